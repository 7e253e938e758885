"""The case file's content: the chronology a local authority asks for before statutory action.

Every trigger with the facts behind it, every letter, call, meeting, outcome, referral and
override with who and when, the register amendments, the attendance as known at each point and
as known now, and the support offered; plus what the chart draws (attendance year to date per
school day, the plan's percentage thresholds, the stages over time).

Pure: built from the history records, the pupil's register and the flow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from escalation_flow.audit.case_words import (
    long_date,
    mis_recorder,
    recorded_in_mis,
    session_words,
    when,
)
from escalation_flow.audit.knowledge import NOW, Cut, MarkVersion, PupilMarkHistory
from escalation_flow.audit.steps import HistoryRecord
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.case import Case
from escalation_flow.core.definition import Flow
from escalation_flow.core.notice_story import NoticeStep
from escalation_flow.web.guard_words import OTHERWISE, guard_sentence

#: Task kinds that are support offered to the family (the plan's "support first").
SUPPORT_KINDS = frozenset({"discussion", "meeting", "plan", "visit", "referral", "call"})


@dataclass(frozen=True)
class Entry:
    """One line of the chronology."""

    seq: int | None  # None: a register amendment
    on: date
    at: datetime  # UTC
    category: str  # case, trigger, override, letter, call, meeting, referral, ..., amendment
    what: str
    who: str
    facts: str = ""
    attendance_then: float | None = None
    attendance_now: float | None = None
    type: str = ""  # the history record's type ("amendment" for a register amendment)

    def attendance_text(self) -> str:
        """``91.2%``, or ``91.2% (93.0%)`` where today's register gives another figure."""
        if self.attendance_then is None:
            return ""
        then = f"{self.attendance_then:.1f}%"
        now = self.attendance_now
        if now is not None and abs(now - self.attendance_then) >= 0.05:
            return f"{then} ({now:.1f}%)"
        return then


@dataclass(frozen=True)
class Support:
    task: str
    kind: str
    role: str
    offered_on: date
    due: date
    status: str  # open, done, superseded
    outcome: str | None = None
    by: str | None = None
    done_on: date | None = None


@dataclass(frozen=True)
class StagePeriod:
    stage: int
    first: date
    last: date | None  # None: still in it


@dataclass(frozen=True)
class Chart:
    days: tuple[date, ...]
    attendance: tuple[float | None, ...]  # year to date, as known now
    thresholds: tuple[tuple[str, float], ...]  # (parameter, value) of the ``_pct`` parameters
    stages: tuple[StagePeriod, ...]


@dataclass(frozen=True)
class CaseFile:
    school: str
    pupil: str
    pupil_name: str
    year_group: str
    date_of_birth: date | None
    flow: str
    flow_title: str
    flow_version: str
    case: Case
    entries: tuple[Entry, ...]
    amendments: tuple[tuple[MarkVersion, ...], ...]
    support: tuple[Support, ...]
    chart: Chart
    attendance_now: float | None
    generated_at: datetime
    chain_intact: bool = True
    replay_summary: str = ""
    importers: tuple[tuple[int, str], ...] = ()  # import id, who imported it
    notes: tuple[str, ...] = field(default=())
    #: the days the case was opened on, first to last (a closed case re-opens on its record)
    openings: tuple[date, ...] = ()
    #: everyone with parental responsibility, one line each (from the contacts, issue 16)
    parents: tuple[str, ...] = ()
    #: the pupil's siblings across the trust, one line each, as the reader may see them
    siblings: tuple[str, ...] = ()
    #: the school's name as the trust file gives it ("" : the file shows its id alone)
    school_name: str = ""
    #: staff logins named in the history, with each one's name: the file says who, in words
    staff_names: tuple[tuple[str, str], ...] = ()

    def school_line(self) -> str:
        """``Leigh Academy Oaks (school-01)``."""
        return f"{self.school_name} ({self.school})" if self.school_name else self.school

    def case_line(self, status: str) -> str:
        """Where the case stands, for the summary at the top."""
        text = status
        if self.case.opened_on:
            text += f"; opened on {long_date(self.case.opened_on)}"
        if len(self.openings) > 1:
            text += (
                f" (first opened on {long_date(self.openings[0])}; opened {len(self.openings)} "
                "times, each shown below)"
            )
        if self.case.closed_on:
            text += f"; closed on {long_date(self.case.closed_on)}"
        return text

    def pupil_line(self) -> str:
        name = self.pupil_name or "(name not on the roster)"
        year = f", year group {self.year_group}" if self.year_group else ""
        born = f", born {long_date(self.date_of_birth)}" if self.date_of_birth else ""
        return f"{name} — MIS id {self.pupil}{year}{born}"


def build_case_file(
    *,
    records: Sequence[HistoryRecord],
    case: Case,
    register: PupilMarkHistory,
    calendar: SchoolCalendar,
    flow: Flow,
    school: str,
    pupil_name: str = "",
    year_group: str = "",
    date_of_birth: date | None = None,
    importers: Mapping[int, str] | None = None,
    generated_at: datetime,
    chain_intact: bool = True,
    replay_summary: str = "",
) -> CaseFile:
    """The case file of one case (``importers``: import id to who imported it)."""
    entries = _entries(records, register, calendar, flow)
    last_day = _last_day(records, register, calendar)
    amendments = tuple(tuple(v) for v in register.versions())
    zone = ZoneInfo(calendar.timezone)
    entries += [_amendment(v, importers or {}, zone) for v in amendments]
    entries.sort(key=lambda e: (e.at, e.seq if e.seq is not None else 0))
    now_index = calendar.index_on_or_before(last_day)
    attendance_now = (
        _pct(register.facts(NOW, now_index, 1).values["attendance_pct"][0])
        if now_index >= 0
        else None
    )
    return CaseFile(
        school=school,
        pupil=register.pupil,
        pupil_name=pupil_name,
        year_group=year_group,
        date_of_birth=date_of_birth,
        flow=flow.id,
        flow_title=flow.definition.title,
        flow_version=case.flow_version or flow.version,
        case=case,
        entries=tuple(entries),
        amendments=amendments,
        support=tuple(_support(records)),
        chart=_chart(records, register, calendar, flow, last_day),
        attendance_now=attendance_now,
        openings=tuple(r.on for r in records if r.type == "case_opened"),
        generated_at=generated_at,
        chain_intact=chain_intact,
        replay_summary=replay_summary,
        importers=tuple(sorted((importers or {}).items())),
    )


def with_notices(cf: CaseFile, steps: Sequence[NoticeStep], zone: ZoneInfo) -> CaseFile:
    """The case file with the penalty-notice register's steps for the pupil (issue 15): each
    notice as issued, to whom, for what and how much, and every change of its status with who
    recorded it and when, placed among the entries by date."""
    if not steps:
        return cf
    added = [_notice_entry(s, zone) for s in steps]
    entries = sorted([*cf.entries, *added], key=lambda e: e.at)  # stable: the file's order kept
    return replace(cf, entries=tuple(entries))


def _notice_entry(step: NoticeStep, zone: ZoneInfo) -> Entry:
    v = step.version
    recorded = f" (recorded in the register on {when(v.recorded_at, zone)})"
    what = step.text(long_date) + (recorded if step.issued else "")
    category = "penalty notice" if "Penalty" in step.title() else "notice to improve"
    return Entry(
        seq=None, on=step.on, at=step.placed, category=category, what=what, who=v.recorded_by,
        type="penalty_notice",
    )  # fmt: skip


# -- entries ---------------------------------------------------------------------------------------

_QUIET = frozenset({"timer_cancelled"})  # bookkeeping an LA does not need line by line


def _entries(
    records: Sequence[HistoryRecord],
    register: PupilMarkHistory,
    cal: SchoolCalendar,
    flow: Flow | None = None,
) -> list[Entry]:
    """One entry per record (bookkeeping left out), with attendance then and now shown from
    the first possible session on (the flow's minimum guards decisions, not what is reported)."""
    kinds: dict[str, str] = {}
    out = []
    for r in records:
        b = r.body
        if r.type == "task_created":
            kinds[str(b.get("task_key"))] = str(b.get("kind"))
        if r.type in _QUIET:
            continue
        category, what = _line(r, kinds, flow)
        day = cal.index_on_or_before(r.on)
        then = now = None
        if day >= 0:
            then = _pct(register.facts(Cut(r.recorded_at), day, 1).values["attendance_pct"][0])
            now = _pct(register.facts(NOW, day, 1).values["attendance_pct"][0])
        out.append(
            Entry(
                seq=r.seq,
                on=r.on,
                at=r.at,
                category=category,
                what=what,
                who=_who(r),
                facts=_facts(b),
                attendance_then=then,
                attendance_now=now,
                type=r.type,
            )
        )
    return out


def _line(r: HistoryRecord, kinds: Mapping[str, str], flow: Flow | None = None) -> tuple[str, str]:
    b = r.body
    t = r.type
    if t == "case_opened":
        return "case", f"case opened under flow {b.get('flow')}"
    if t == "case_closed":
        return "case", f"case closed ({_how(b, flow)})"
    if t == "stage_entered":
        how = _how(b, flow)
        return "trigger", f"stage {b.get('stage')} entered ({_state(b.get('state'))}): {how}"
    if t == "state_entered":
        return "trigger", f"moved to {_state(b.get('state'))}: {_how(b, flow)}"
    if t == "stage_overridden":
        why = b.get("reason_text") or "no reason given"
        return "override", f"stage {b.get('stage')} set by override: {why}"
    if t == "task_created":
        kind = str(b.get("kind"))
        label = "letter prepared" if kind == "letter" else f"{kind} to do"
        return (
            kind,
            f"{label}: {_words(b.get('task'))} (due {b.get('due')}, {_words(b.get('role'))})",
        )
    if t == "task_completed":
        kind = kinds.get(str(b.get("task_key")), "task")
        note = f"; note: {b['note']}" if b.get("note") else ""
        return kind, f"{_words(b.get('task'))}: {_words(b.get('outcome'))}{note}"
    if t == "task_superseded":
        kind = kinds.get(str(b.get("task_key")), "task")
        return kind, f"{_words(b.get('task'))} no longer needed: {b.get('why')}"
    if t == "timer_armed":
        return "review", f"review {_words(b.get('timer'))} set for {b.get('due')} ({b.get('rule')})"
    if t == "timer_fired":
        return "review", f"review {_words(b.get('timer'))} came due"
    if t == "event_recorded":
        outcome = f" ({_words(b.get('outcome'))})" if b.get("outcome") else ""
        note = f"; note: {b['note']}" if b.get("note") else ""
        return "event", f"{_words(b.get('event'))}{outcome}{note}"
    if t == "action_undone":
        note = f"; note: {b['note']}" if b.get("note") else ""
        return "correction", (
            f"{_words(b.get('action'))} withdrawn by the person who recorded it (an undo; the "
            f"records it withdrew stay above){note}"
        )
    if t == "flow_migrated":
        why = b.get("reason_text") or ""
        to = str(b.get("to_version", ""))[:12]
        return "flow", f"case moved to flow version {to}: {why}"
    return "other", t


def _how(b: Mapping[str, Any], flow: Flow | None = None) -> str:
    trigger = b.get("trigger")
    rule = str(b.get("guard") or trigger or "")
    if rule.isidentifier():
        rule = _words(rule)  # a named condition of the plan ("back in stage one"), not a formula
    elif flow is not None and rule.startswith(OTHERWISE):
        # a step taken because no other condition held: in words, not "otherwise: not (...)"
        reason = b.get("reason")
        rule = guard_sentence(flow, rule, reason if isinstance(reason, dict) else {}) or rule
    if b.get("quote"):
        return f"{rule}: “{b['quote']}”"
    return rule


def _who(r: HistoryRecord) -> str:
    by = r.body.get("by")
    return str(by) if by else r.actor


def _facts(b: Mapping[str, Any]) -> str:
    reason = b.get("reason")
    if not isinstance(reason, dict) or not reason:
        return ""
    return ", ".join(f"{k} = {_num(v)}" for k, v in sorted(reason.items()))


def _amendment(
    versions: Sequence[MarkVersion], importers: Mapping[int, str], zone: ZoneInfo
) -> Entry:
    first, last = versions[0], versions[-1]
    chain = " → ".join(v.code for v in versions)
    imported = f"; imported on {when(last.imported_at, zone)}" if last.imported_at else ""
    who = importers.get(last.import_id or -1, "MIS") if last.import_id is not None else "MIS"
    first_by = f" by {mis_recorder(first.recorded_by)}" if first.recorded_by else ""
    return Entry(
        seq=None,
        on=last.recorded_at.astimezone(zone).date(),
        at=last.recorded_at,
        category="amendment",
        what=(
            f"register, {session_words(first.day, first.session)}: {chain} "
            f"(first recorded on {when(first.recorded_at, zone)}{first_by}; "
            f"{recorded_in_mis('amended', last.recorded_by)} on {when(last.recorded_at, zone)}"
            f"{imported})"
        ),
        # Who brought the amendment into the service; who made it in the MIS is in ``what``.
        who=who,
        type="amendment",
    )


def _support(records: Sequence[HistoryRecord]) -> list[Support]:
    found: dict[str, Support] = {}
    for r in records:
        b = r.body
        key = str(b.get("task_key"))
        if r.type == "task_created" and b.get("kind") in SUPPORT_KINDS:
            found[key] = Support(
                str(b.get("task")), str(b.get("kind")), str(b.get("role")), r.on,
                date.fromisoformat(str(b.get("due"))), "open",
            )  # fmt: skip
        elif key in found and r.type == "task_completed":
            s = found[key]
            found[key] = Support(
                s.task, s.kind, s.role, s.offered_on, s.due, "done",
                str(b.get("outcome")), str(b.get("by")), r.on,
            )  # fmt: skip
        elif key in found and r.type == "task_superseded":
            s = found[key]
            found[key] = Support(s.task, s.kind, s.role, s.offered_on, s.due, "superseded")
    return list(found.values())


# -- the chart -------------------------------------------------------------------------------------


def _chart(
    records: Sequence[HistoryRecord],
    register: PupilMarkHistory,
    cal: SchoolCalendar,
    flow: Flow,
    last_day: date,
) -> Chart:
    last = cal.index_on_or_before(last_day)
    year = cal.year_of(max(last, 0))
    series = register.attendance_series(NOW)
    days = tuple(cal.school_days[year.first : last + 1])
    values = tuple(_pct(series[d]) for d in range(year.first, last + 1))
    term = cal.term_name_of(max(last, 0)).value
    thresholds = tuple(
        (name, value)
        for name, value in sorted(flow.parameter_values(term).items())
        if name.endswith("_pct")
    )
    return Chart(days, values, thresholds, tuple(_stage_periods(records)))


def _stage_periods(records: Sequence[HistoryRecord]) -> list[StagePeriod]:
    out: list[StagePeriod] = []
    current: tuple[int, date] | None = None
    for r in records:
        if r.type in ("stage_entered", "stage_overridden") or r.type == "case_closed":
            if current is not None:
                out.append(StagePeriod(current[0], current[1], r.on))
                current = None
            if r.type != "case_closed":
                current = (int(r.body.get("stage", 0)), r.on)
    if current is not None:
        out.append(StagePeriod(current[0], current[1], None))
    return out


def _last_day(
    records: Sequence[HistoryRecord], register: PupilMarkHistory, cal: SchoolCalendar
) -> date:
    """The chart and the figures run to the last event or the last mark, whichever is later."""
    last_event = max((r.on for r in records), default=cal.first_day)
    marked = register.last_marked_day()
    last_mark = cal.school_days[marked] if marked >= 0 else cal.first_day
    return max(last_event, last_mark)


# -- text helpers ----------------------------------------------------------------------------------


def _pct(value: Any) -> float | None:
    f = float(value)
    return None if math.isnan(f) else round(f, 1)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if not value.is_integer() else str(int(value))
    return "unknown" if value is None else str(value)


def _words(value: Any) -> str:
    return str(value).replace("_", " ") if value is not None else ""


def _state(value: Any) -> str:
    text = str(value)
    stage, _, state = text.partition(".")
    return f"{_words(stage)}, {_words(state)}" if state else _words(text)
