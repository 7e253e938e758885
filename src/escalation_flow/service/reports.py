"""The termly targeting meeting's report and the local authority's monthly notifications
(issue 16, parts 4-5): read from the register as known now, the school's cases and the records
the meetings and notifications leave (``report_ports.ReportRecords``).

Both are asked "as of" a school day: the term's last day (or today, while the term runs; the
last school day before it, before it starts) and the month's last school day (or today, while
the month runs). The register is read as known at the service's now.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, timedelta

from escalation_flow.actors import Actors, is_system_actor
from escalation_flow.core.access import Principal
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.la_monthly import (
    MIN_POSSIBLE_SESSIONS,
    IllnessExpected,
    earlier_notifications,
    illness_expected,
    unauthorised_runs,
)
from escalation_flow.core.marks import PupilRecord
from escalation_flow.core.targeting import Listed, find_term, previous_term, targeted, term_key
from escalation_flow.errors import ActionError, CalendarError, InputError, NotFoundError
from escalation_flow.report_ports import (
    NO_SIBLINGS,
    AgreedAction,
    NoSiblings,
    NotificationSent,
    ReportRecords,
    SiblingDirectory,
)
from escalation_flow.report_views import (
    LaMonthlyReport,
    LaMonthlyRow,
    TargetingReport,
    TargetingRow,
)
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.register import RegisterAsKnown, SchoolSetup

_MONTH = re.compile(r"(\d{4})-(\d{2})")
#: The longest agreed action kept (a line or two of minutes, not a document).
MAX_ACTION_CHARS = 1000


class Reports:
    """The two reports and the records they keep."""

    def __init__(
        self,
        ctx: ServiceContext,
        actors: Actors,
        records: ReportRecords,
        siblings: SiblingDirectory | None = None,
    ) -> None:
        self.ctx = ctx
        self.actors = actors
        self.records = records
        self.siblings = siblings or NoSiblings()

    # -- the termly targeting meeting -------------------------------------------------------

    def targeting(
        self,
        school: str,
        term: str,
        as_of: date | None = None,
        visible_schools: Collection[str] | None = None,
        viewer: Principal | None = None,
    ) -> TargetingReport:
        """The pupils the termly meeting discusses (``core.targeting`` says who), with their
        figures, case and stage, siblings, and the actions agreed this term and last. Siblings
        at schools outside ``visible_schools`` (None: every school), or that ``viewer`` (None:
        the service itself) may not read, are named only as such (``SiblingDirectory``)."""
        setup = self.ctx.setup(school)
        calendar = setup.calendar
        found = find_term(calendar, term)
        before = previous_term(calendar, found)
        key, last_key = term_key(found), (term_key(before) if before else None)
        now = self.ctx.now()
        day = _day_on_or_before(calendar, as_of or min(setup.local_date(now), found.end))
        register = RegisterAsKnown.load(self.ctx.store, setup, now, day)
        facts = register.facts(day)
        agreed = self.records.agreed_actions(setup.school, [k for k in (key, last_key) if k])
        this_term = _by_pupil(a for a in agreed if a.term == key)
        last_term = _by_pupil(a for a in agreed if a.term == last_key)
        rows = {p: facts.row(p) for p in facts.pupils}
        listed = targeted(rows, set(last_term) | set(this_term))
        cases = self._cases(setup.school)
        lines = self.siblings.sibling_lines(
            setup.school, [p for p, _ in listed], visible_schools, viewer
        )
        out = [
            _targeting_row(
                pupil, reason, rows[pupil], register.roster.pupils.get(pupil),
                cases.get(pupil), lines.get(pupil, NO_SIBLINGS),
                this_term.get(pupil, ()), last_term.get(pupil, ()),
            )
            for pupil, reason in listed
        ]  # fmt: skip
        return TargetingReport(
            school=setup.school,
            school_name=setup.config.name,
            term=key,
            previous_term=last_key,
            as_of=calendar.school_days[day],
            known_at=now,
            rows=tuple(out),
        )

    def record_action(
        self, school: str, term: str, pupil: str, action: str, by: str
    ) -> AgreedAction:
        """Keep an action agreed for a pupil at the term's meeting: who (a member of staff, not
        a system actor) and when; audit-logged with it."""
        setup = self.ctx.setup(school)
        key = term_key(find_term(setup.calendar, term))
        name = self._person(by)
        text = " ".join(action.split())
        if not text:
            raise InputError("the agreed action is empty: say what was agreed")
        if len(text) > MAX_ACTION_CHARS:
            raise InputError(f"the agreed action is longer than {MAX_ACTION_CHARS} characters")
        if pupil not in self._pupils(setup):
            raise NotFoundError(f"pupil {pupil!r} is not on the register of {setup.school}")
        agreed = AgreedAction(setup.school, key, pupil, text, name, self.ctx.now())
        self.records.record_action(agreed)
        self.ctx.log.info(
            "report.action_agreed", school=setup.school, term=key, pupil=pupil, by=name
        )
        return agreed

    # -- the local authority's monthly notifications ----------------------------------------

    def la_monthly(self, school: str, month: str, as_of: date | None = None) -> LaMonthlyReport:
        """Pupils with 10 consecutive school days of unauthorised absence in the month, and
        pupils expected to miss 15 school days through illness (``core.la_monthly``'s method),
        with what was recorded as sent for the month."""
        setup = self.ctx.setup(school)
        calendar = setup.calendar
        first, last = _month_days(calendar, month)
        now = self.ctx.now()
        until = as_of or min(setup.local_date(now), calendar.school_days[last])
        day = calendar.index_on_or_before(until)
        if day < first:
            raise CalendarError(f"month {month} has no school day on or before {until.isoformat()}")
        day = min(day, last)
        register = RegisterAsKnown.load(self.ctx.store, setup, now, day)
        runs = unauthorised_runs(register.counts, first, day)
        ill = illness_expected(
            register.counts, calendar.year_of(day).first, day, calendar.term_of(day).last
        )
        sent = tuple(self.records.notifications_sent(setup.school, month))
        before = self._notified_before(setup.school, calendar, month)
        roster = register.roster.pupils
        rows = [
            _la_row(
                r.pupil, roster.get(r.pupil), "10 consecutive school days of unauthorised absence",
                f"{r.days} school days, {calendar.school_days[r.first_day].isoformat()} to "
                f"{calendar.school_days[r.last_day].isoformat()}", sent, before,
            )
            for r in runs
        ] + [
            _la_row(
                e.pupil, roster.get(e.pupil), _illness_reason(e), _illness_detail(e), sent, before,
            )
            for e in ill
        ]  # fmt: skip
        return LaMonthlyReport(
            school=setup.school,
            school_name=setup.config.name,
            month=month,
            as_of=calendar.school_days[day],
            known_at=now,
            rows=tuple(rows),
            sent=sent,
        )

    def _notified_before(
        self, school: str, calendar: SchoolCalendar, month: str
    ) -> dict[str, datetime]:
        """Each pupil named in a return recorded as sent for an earlier month of the school's
        calendar, with when it was first sent."""
        months = sorted({f"{d:%Y-%m}" for d in calendar.school_days} - {month})
        found = [
            (n.school, n.month, n.pupils, n.at)
            for m in months
            if m < month
            for n in self.records.notifications_sent(school, m)
        ]
        return earlier_notifications(found, month)

    def record_sent(self, report: LaMonthlyReport, csv_bytes: bytes, by: str) -> NotificationSent:
        """Record that ``report`` (as the CSV ``csv_bytes``) was sent to the local authority."""
        name = self._person(by)
        pupils = tuple(dict.fromkeys(r.pupil for r in report.rows))
        sent = NotificationSent(
            report.school, report.month, pupils, hashlib.sha256(csv_bytes).hexdigest(), name,
            self.ctx.now(),
        )  # fmt: skip
        self.records.record_sent(sent)
        self.ctx.log.info(
            "report.la_notification_sent", school=report.school, month=report.month, by=name
        )
        return sent

    # -- helpers ----------------------------------------------------------------------------

    def _person(self, by: str) -> str:
        name = self.actors.check(by)
        if is_system_actor(name):
            raise ActionError(f"{name!r} is a system actor: a member of staff records this")
        return name

    def _cases(self, school: str) -> dict[str, tuple[str, int, str]]:
        """Per pupil, their open case (else their latest): status, stage, state."""
        with self.ctx.store.read() as tx:
            rows = tx.case_lines(tx.school_id(school), None)
        out: dict[str, tuple[str, int, str]] = {}
        latest: dict[str, date] = {}
        for r in rows:
            opened = r.opened_on or date.min
            held = out.get(r.pupil)
            better = held is None or (
                (r.status == "open", opened) > (held[0] == "open", latest[r.pupil])
            )
            if better:
                out[r.pupil], latest[r.pupil] = (r.status, r.stage, r.state), opened
        return out

    def _pupils(self, setup: SchoolSetup) -> set[str]:
        last = max(0, setup.calendar.index_on_or_before(setup.local_date(self.ctx.now())))
        register = RegisterAsKnown.load(self.ctx.store, setup, self.ctx.now(), last)
        return set(register.pupils) | set(register.roster.pupils)


def _by_pupil(actions: Iterable[AgreedAction]) -> dict[str, tuple[AgreedAction, ...]]:
    out: dict[str, tuple[AgreedAction, ...]] = {}
    for a in actions:
        out[a.pupil] = (*out.get(a.pupil, ()), a)
    return out


def _day_on_or_before(calendar: SchoolCalendar, day: date) -> int:
    index = calendar.index_on_or_before(day)
    if index < 0:
        raise CalendarError(f"no school day on or before {day.isoformat()} in {calendar.name}")
    return index


def _month_days(calendar: SchoolCalendar, month: str) -> tuple[int, int]:
    """The first and last school-day index of ``month`` (YYYY-MM)."""
    m = _MONTH.fullmatch(month.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise InputError(f"month {month!r} is not a month: write it YYYY-MM (e.g. 2025-11)")
    start = date(int(m.group(1)), int(m.group(2)), 1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    first = calendar.index_on_or_before(start - timedelta(days=1)) + 1
    last = calendar.index_on_or_before(end)
    if last < first:
        raise CalendarError(f"month {month} has no school days in calendar {calendar.name}")
    return first, last


def _name(record: PupilRecord | None) -> tuple[str, str]:
    if record is None:
        return "", ""
    return f"{record.forename} {record.surname}".strip(), record.year_group


def _pct(value: float) -> float | None:
    return None if math.isnan(value) else value


def _targeting_row(
    pupil: str,
    reason: Listed,
    facts: dict[str, float],
    record: PupilRecord | None,
    case: tuple[str, int, str] | None,
    siblings: str,
    this_term: tuple[AgreedAction, ...],
    last_term: tuple[AgreedAction, ...],
) -> TargetingRow:
    name, year_group = _name(record)
    return TargetingRow(
        pupil=pupil,
        name=name,
        year_group=year_group,
        listed=reason.value,
        attendance_pct=_pct(facts["attendance_pct"]),
        trend=_pct(facts["attendance_trend"]),
        projected_pct=_pct(facts["projected_year_end_attendance_pct"]),
        at_risk=facts["at_risk_of_persistent_absence"] == 1,
        persistent=facts["persistent_absence"] == 1,
        severe=facts["severe_absence"] == 1,
        case_status=case[0] if case else "none",
        stage=case[1] if case else None,
        state=case[2] if case else "",
        siblings=siblings,
        agreed_this_term=this_term,
        agreed_last_term=last_term,
    )


def _la_row(
    pupil: str, record: PupilRecord | None, reason: str, detail: str,
    sent: tuple[NotificationSent, ...], before: Mapping[str, datetime],
) -> LaMonthlyRow:  # fmt: skip
    name, year_group = _name(record)
    first = next((s for s in sent if pupil in s.pupils), None)
    earlier = before.get(pupil)
    if earlier is not None:  # the authority has heard of this pupil: say so on every copy
        detail += f"; already notified on {earlier.date().isoformat()}"
    return LaMonthlyRow(
        pupil=pupil,
        name=name,
        year_group=year_group,
        reason=reason,
        detail=detail,
        sent_at=first.at if first else None,
        sent_by=first.by if first else None,
        notified_before=earlier,
    )


def _illness_reason(e: IllnessExpected) -> str:
    if e.judged:
        return "expected to miss 15 school days through illness"
    return "illness: too few sessions to judge"


def _illness_detail(e: IllnessExpected) -> str:
    so_far = f"{e.illness_days_so_far:g} days ill this year"
    if e.judged:
        return f"{so_far}; {e.illness_days_expected:.1f} expected by the end of term"
    return (
        f"{so_far}; too few sessions to judge: the recent rate rests on {e.recent_possible} "
        f"possible session{'s' if e.recent_possible != 1 else ''} (at least "
        f"{MIN_POSSIBLE_SESSIONS} are needed before a projection means anything)"
    )
