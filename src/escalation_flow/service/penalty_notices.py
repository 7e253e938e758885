"""The penalty-notice register's use cases: record, change a status, list, and say for each
parent with parental responsibility whether a notice may be issued.

The rules are ``core.penalty_notices``; this class gathers what they are checked on, as known
now (the pupil's contacts, the marks of the sessions named, the school's register) and hands
the store a maker that checks them again on the register it holds locked while it writes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from escalation_flow.actors import Actors
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.notice_grounds import OF_AGE_COUNT, ChildGrounds
from escalation_flow.core.notice_story import NoticeStep, Parent, notice_steps
from escalation_flow.core.penalty_notices import (
    Kind,
    NoticeDraft,
    NoticeVersion,
    Offence,
    ParentStanding,
    Session,
    Status,
    as_known_at,
    check_eligible,
    check_record,
    check_status_change,
    check_threshold,
    proposing_tasks,
    standings,
)
from escalation_flow.core.school_age import ALWAYS, compulsory_school_age_span
from escalation_flow.errors import CalendarError, NotFoundError, StoreError
from escalation_flow.ports import PenaltyNoticeBook
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.families import FamilyReads
from escalation_flow.service.register import RegisterAsKnown


class PenaltyNoticeDesk:
    """The register over one store (None: a store without one, which refuses to record)."""

    def __init__(
        self,
        ctx: ServiceContext,
        book: PenaltyNoticeBook | None,
        families: FamilyReads,
        actors: Actors | None = None,
    ) -> None:
        self.ctx = ctx
        self.book = book
        self.families = families
        self.actors = actors or Actors()

    def _register(self) -> PenaltyNoticeBook:
        if self.book is None:
            raise StoreError("this store keeps no penalty-notice register")
        return self.book

    def record(
        self,
        school: str,
        pupil: str,
        parent: str,
        *,
        kind: Kind,
        offence: Offence,
        sessions: Sequence[Session],
        issued_on: date,
        by: str,
        note: str = "",
    ) -> NoticeVersion:
        """Record a notice the national rules allow (else a ``PenaltyNoticeError`` saying
        why); version 1, status issued."""
        by = self.actors.check(by)
        book = self._register()
        setup = self.ctx.setup(school)
        key, now = setup.school, self.ctx.now()
        self.ctx.ensure_schools()
        draft = NoticeDraft(
            kind, key, pupil, parent.strip(), offence, tuple(sorted(set(sessions))), issued_on
        )
        responsible = self._responsible(key, pupil, now)
        marks, school_age, born = self._marks(key, pupil, draft.sessions, now)
        cal = setup.calendar
        today = now.astimezone(setup.zone).date()

        def make(stored: list[NoticeVersion], number: int) -> NoticeVersion:
            check_eligible(draft, today=today, school_age=school_age, born=born)
            amounts = check_record(draft, as_known_at(stored), responsible, marks)
            check_threshold(draft, lambda d: int(cal.week_of_day[cal.day_index(d)]))
            codes = tuple(marks[s] or "-" for s in draft.sessions)
            return NoticeVersion(number, 1, draft, codes, Status.ISSUED, amounts, by, now, note)

        version = book.write_penalty_notice(key, make, now)
        self.ctx.log.info(
            "penalty_notice_recorded",
            notice=version.notice,
            school=key,
            pupil=pupil,
            kind=kind.value,
            offence=offence.value,
            sessions=len(draft.sessions),
            issued_on=issued_on.isoformat(),
            by=by,
        )
        return version

    def update(self, notice: int, status: Status, *, by: str, note: str = "") -> NoticeVersion:
        """A new version of ``notice`` with ``status`` (``StatusChangeError`` when its
        lifecycle does not allow it)."""
        by = self.actors.check(by)
        book = self._register()
        school = self.notice(notice).draft.school
        now = self.ctx.now()

        def make(stored: list[NoticeVersion], _number: int) -> NoticeVersion:
            current = _find(as_known_at(stored), notice)
            check_status_change(current, status)
            return replace(
                current,
                version=current.version + 1,
                status=status,
                recorded_by=by,
                recorded_at=now,
                note=note,
            )

        version = book.write_penalty_notice(school, make, now)
        self.ctx.log.info(
            "penalty_notice_updated",
            notice=notice,
            school=school,
            version=version.version,
            status=status.value,
            by=by,
        )
        return version

    def notice(self, notice: int) -> NoticeVersion:
        return _find(self.notices(), notice)

    def history(self, notice: int) -> list[NoticeVersion]:
        """Every version of ``notice``, oldest first."""
        found = [v for v in self._register().penalty_notice_versions() if v.notice == notice]
        if not found:
            raise NotFoundError(f"there is no penalty notice {notice} in the register")
        return found

    def notices(
        self,
        school: str | None = None,
        pupil: str | None = None,
        *,
        known_at: datetime | None = None,
    ) -> list[NoticeVersion]:
        """The register as known at ``known_at`` (default: now), each notice's latest version."""
        if self.book is None:
            return []
        key = self.ctx.setup(school).school if school else None
        found = as_known_at(self.book.penalty_notice_versions(key), known_at or self.ctx.now())
        return [v for v in found if pupil is None or v.draft.pupil == pupil]

    def steps(self, school: str, pupil: str) -> list[NoticeStep]:
        """Every version of every notice for the pupil issued by today, as steps of the case's
        story (issue 15), each parent named as the contacts last named them. Read as recorded
        (``as_recorded``), not cut at the service's clock."""
        setup = self.ctx.setup(school)
        today = self.ctx.now().astimezone(setup.zone).date()
        mine = [
            v
            for v in self._all(setup.school)
            if v.draft.pupil == pupil and v.draft.issued_on <= today
        ]
        if not mine:
            return []
        parents = self.parents(setup.school)
        named = {p: who for (pp, p), who in parents.items() if pp == pupil}
        return notice_steps(mine, named, setup.zone)

    def as_recorded(self, school: str, *, issued_by: date | None = None) -> list[NoticeVersion]:
        """Each notice's latest version as the register holds it now, issued on or before
        ``issued_by`` (None: any day). Not cut at the service's clock: the pages' ``--today``
        shifts that clock back for a demonstration while notices are recorded on the real one,
        and a notice recorded since must not vanish from the register's page."""
        found = as_known_at(self._all(self.ctx.setup(school).school))
        return [v for v in found if issued_by is None or v.draft.issued_on <= issued_by]

    def parents(self, school: str) -> dict[tuple[str, str], Parent]:
        """Each (pupil, contact id) of the school's contacts, as the contacts last named them
        (a notice names its parent by contact id; a reader wants a name and relationship)."""
        key = self.ctx.setup(school).school
        out: dict[tuple[str, str], Parent] = {}
        for c in sorted(self.families.versions(), key=lambda c: c.recorded_at):
            if c.school == key:
                out[(c.pupil, c.contact)] = Parent(c.name, c.relationship)
        return out

    def _all(self, key: str) -> list[NoticeVersion]:
        return [] if self.book is None else self.book.penalty_notice_versions(key)

    def standings(self, school: str, pupil: str, on: date | None = None) -> list[ParentStanding]:
        """For each contact with parental responsibility for the pupil (as known now): may a
        penalty notice issued ``on`` (default: today) be, and why not."""
        key = self.ctx.setup(school).school
        now = self.ctx.now()
        day = on or now.astimezone(self.ctx.setup(key).zone).date()
        parents = [
            (c.contact, c.name)
            for c in self.families.contacts(key, pupil, known_at=now)
            if c.parental_responsibility
        ]
        return standings(self.notices(key, pupil), key, pupil, parents, day)

    def grounds(self, school: str, pupil: str, on: date | None = None) -> ChildGrounds:
        """Whether a penalty notice issued ``on`` (default: today) may be considered for the
        child at all: of compulsory school age that day, and the national threshold met over
        sessions of that age (the flows' ``penalty_notice_threshold_met``), as known now."""
        setup = self.ctx.setup(school)
        now = self.ctx.now()
        day = on or now.astimezone(setup.zone).date()
        index = setup.calendar.index_on_or_before(day)
        register = RegisterAsKnown.load(self.ctx.store, setup, now, max(index, 0))
        record = register.roster.pupils.get(pupil)
        born = record.date_of_birth if record else None
        sessions = 0
        if index >= 0:
            try:
                row = register.facts(index).row(pupil)
            except NotFoundError:
                row = {}
            value = row.get(OF_AGE_COUNT, 0.0)
            sessions = 0 if math.isnan(value) else int(value)
        return ChildGrounds(pupil, day, born, compulsory_school_age_span(born), sessions)

    def for_case(
        self, school: str, pupil: str, flow_version: str, open_tasks: Iterable[str]
    ) -> list[ParentStanding] | None:
        """``standings`` where one of the case's open tasks proposes a penalty notice (None:
        none does, and nothing is said)."""
        flow = self.ctx.setup_at(school, flow_version).flow
        if not proposing_tasks(flow.definition) & set(open_tasks):
            return None
        return self.standings(school, pupil)

    def _responsible(self, school: str, pupil: str, now: datetime) -> set[str]:
        contacts = self.families.contacts(school, pupil, known_at=now)
        return {c.contact for c in contacts if c.parental_responsibility}

    def _marks(
        self, school: str, pupil: str, sessions: Sequence[Session], now: datetime
    ) -> tuple[dict[Session, str | None], tuple[date, date], date | None]:
        """Each session's mark as known now (None: not a school day of the calendar, or the
        pupil has no marks there), the pupil's span of compulsory school age from the roster
        as known now (``ALWAYS`` when the date of birth is unknown), and the date of birth."""
        setup = self.ctx.setup(school)
        cal = setup.calendar
        days: dict[Session, int] = {}
        for s in sessions:
            try:
                days[s] = cal.day_index(s.on)
            except CalendarError:
                continue
        if not days:
            return dict.fromkeys(sessions), ALWAYS, None
        register = RegisterAsKnown.load(self.ctx.store, setup, now, max(days.values()))
        record = register.roster.pupils.get(pupil)
        born = record.date_of_birth if record else None
        school_age = compulsory_school_age_span(born)
        try:
            row = register.grid.pupil_index(pupil)
        except NotFoundError:
            return dict.fromkeys(sessions), school_age, born
        out: dict[Session, str | None] = dict.fromkeys(sessions)
        for s, day in days.items():
            column = 2 * day + (0 if s.half == "AM" else 1)
            out[s] = CODE_OF_ID[int(register.grid.codes[row, column])]
        return out, school_age, born


def _find(notices: Sequence[NoticeVersion], notice: int) -> NoticeVersion:
    for v in notices:
        if v.notice == notice:
            return v
    raise NotFoundError(f"there is no penalty notice {notice} in the register")
