"""The backtest: the daemon's engine run over past registers on a simulated clock.

Every school day from ``first`` to ``last``, each school's register is read as it was known at
the end of that day (marks count from their ``recorded_at``; a mark whose file does not say is
taken as recorded at the end of its own day), and the school's ``SchoolCases`` is run through the
day exactly as the daemon would: timers, staff actions, then the evening's evaluation.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import multiprocessing as mp
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from escalation_flow.core.calendar import DEFAULT_REGISTERS_CLOSE, SchoolCalendar
from escalation_flow.core.contacts import ContactVersion, as_known_at
from escalation_flow.core.decisions import Decision
from escalation_flow.core.definition import Flow
from escalation_flow.core.engine import Context
from escalation_flow.core.facts import FactTable
from escalation_flow.core.family_facts import (
    FamilySnapshot,
    SchoolEvening,
    contacts_cut,
    family_facts,
)
from escalation_flow.core.marks import MarkTable, Roster
from escalation_flow.core.register import AssumeRecordedAtEndOfDay
from escalation_flow.core.school_cases import FloatArray
from escalation_flow.core.school_day import (
    Action,
    DayInputs,
    SchoolCases,
    SchoolDuty,
    UniversalTask,
    run_day,
)
from escalation_flow.core.timeline import KnownAtTimeline
from escalation_flow.errors import CalendarError, InputError


@dataclass(frozen=True)
class SchoolRun:
    """One school's inputs to a backtest."""

    school: str
    flow: Flow
    calendar: SchoolCalendar
    marks: MarkTable
    roster: Roster | None = None
    actions: Sequence[Action] = ()
    registers_close: time = DEFAULT_REGISTERS_CLOSE


@dataclass(frozen=True)
class Period:
    first: date | None  # None: the calendar's first day
    last: date


@dataclass(frozen=True)
class Sources:
    """The files a backtest reads: marks with either one flow and calendar for every school, or a
    trust file giving each school its own."""

    marks: tuple[Path, ...]
    flow: Path | None = None
    calendars: tuple[Path, ...] = ()
    trust: Path | None = None
    roster: Path | None = None
    actions: Path | None = None


def prepare(sources: Sources) -> tuple[list[SchoolRun], dict[str, Any]]:
    """Read and check every input (all problems of a file at once); one run per school."""
    from escalation_flow.adapters.action_files import read_actions

    schools, header = (
        _trust_schools(sources.trust)
        if sources.trust
        else _one_flow(sources.flow, sources.calendars)
    )
    tables = _marks(sources.marks, schools)
    rosters = _rosters(sources.roster, set(tables))
    actions = read_actions(sources.actions, set(tables)) if sources.actions else {}
    unknown = sorted(set(actions) - set(tables))
    if unknown:
        raise InputError(f"the actions file names schools with no marks: {', '.join(unknown)}")
    runs = []
    for school in sorted(tables):
        s = schools.get(school) or schools[_ANY]
        runs.append(
            SchoolRun(
                school=school,
                flow=s.flow,
                calendar=s.calendar,
                marks=tables[school],
                roster=rosters.get(school),
                actions=actions.get(school, ()),
                registers_close=s.registers_close,
            )
        )
    return runs, header


@dataclass(frozen=True)
class SchoolResult:
    """What a school's backtest leaves: every pupil's decisions, and the universal tasks."""

    school: str
    pupils: tuple[str, ...]
    history: dict[int, list[Decision]]
    universal_tasks: list[UniversalTask]
    first_day: date
    #: the school-level duties' tasks (one per role and day or week, listing the cases covered)
    duties: list[SchoolDuty] = field(default_factory=list)

    @classmethod
    def of(cls, book: SchoolCases, first_day: date) -> SchoolResult:
        return cls(
            book.school, book.pupils, book.history, book.universal_tasks, first_day, book.duties
        )


def run_schools(
    runs: Sequence[SchoolRun], period: Period, *, auto_complete: bool, workers: int | None = None
) -> list[SchoolResult]:
    """Every school, in school order; schools are independent, so with ``workers`` > 1 they run
    in forked processes (the results, plain decisions, come back; the order does not change)."""
    workers = min(workers or os.cpu_count() or 1, len(runs))
    with _collector_paused():  # and while a pool's results are read back: the same records
        if workers <= 1 or "fork" not in mp.get_all_start_methods():
            return [_run_one(r, period, auto_complete) for r in runs]
        global _FORKED
        _FORKED = (list(runs), period, auto_complete)
        try:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                return list(pool.map(_run_forked, range(len(runs))))
        finally:
            _FORKED = None


#: The runs a forked worker reads (flows hold compiled guards, which do not pickle).
_FORKED: tuple[list[SchoolRun], Period, bool] | None = None


def _run_forked(index: int) -> SchoolResult:
    assert _FORKED is not None
    runs, period, auto_complete = _FORKED
    return _run_one(runs[index], period, auto_complete)


def _run_one(run: SchoolRun, period: Period, auto_complete: bool) -> SchoolResult:
    first, _ = _day_range(run.calendar, period)
    book = run_school(run, period, auto_complete=auto_complete)
    return SchoolResult.of(book, run.calendar.school_days[first])


def run_school(run: SchoolRun, period: Period, *, auto_complete: bool) -> SchoolCases:
    """Replay one school over the period; the book holds every case's history."""
    with _collector_paused():
        return _replay(run, period, auto_complete=auto_complete)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (restored after, as it was).

    A backtest makes hundreds of thousands of small records (decisions, reasons, cases) that
    live to the end and hold no cycles. The collector walks all of them again each time enough
    have piled up: about a tenth of a school's year, and half of reading a worker's results
    back. Plain reference counting still frees everything else as it goes.

    Everything made while paused is then put in the oldest generation (``freeze`` and
    ``unfreeze``: two list splices), not left in the youngest, whose first collection after the
    pause would walk every record once more (a few tenths of a second, serial, after the
    workers' results are read back). Garbage among them is still found by a full collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():  # nobody else's frozen objects to thaw
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _replay(run: SchoolRun, period: Period, *, auto_complete: bool) -> SchoolCases:
    school = _SchoolStepper(run, period, auto_complete=auto_complete)
    for day in school.days():
        school.run(day)
    return school.book


class _SchoolStepper:
    """One school's book taken through its school days one at a time (the family snapshot
    needs every school's previous evening before any school's next)."""

    def __init__(self, run: SchoolRun, period: Period, *, auto_complete: bool) -> None:
        cal = run.calendar
        self.school_run = run
        self.first, self.last = _day_range(cal, period)
        self.timeline = KnownAtTimeline(
            run.marks, cal, unknown_recorded_at=AssumeRecordedAtEndOfDay(), roster=run.roster
        )
        self.book = SchoolCases(
            ctx=Context(run.flow, cal),
            school=run.school,
            pupils=self.timeline.grid.pupils,
            registers_close=run.registers_close,
        )
        self.auto_complete = auto_complete
        self.by_day = _actions_by_day(run.actions, cal, self.first, self.last)
        self.previous: FactTable | None = None
        self.family_before: Mapping[str, FloatArray] | None = None
        self._steps = self.timeline.steps(self.first, self.last)

    def days(self) -> Iterator[date]:
        cal = self.school_run.calendar
        return (cal.school_days[d] for d in range(self.first, self.last + 1))

    def run(self, on: date, family: Mapping[str, FloatArray] | None = None) -> None:
        """Run school day ``on`` (the next of ``days()``)."""
        step = next(self._steps)
        if self.school_run.calendar.school_days[step.day_index] != on:
            raise ValueError(f"{self.book.school}: {on} is not its next school day")
        facts = self.timeline.facts(
            min_possible_sessions_ytd=self.school_run.flow.definition.min_possible_sessions
        )
        inputs = DayInputs(
            day=step.day_index,
            facts=facts,
            counts=self.timeline.counts,
            previous=self.previous,
            actions=self.by_day.get(step.day_index, ()),
            auto_complete=self.auto_complete,
            amended=[int(p) for p in step.amended_pupils] if step.day_index > self.first else (),
            family=family,
            family_before=self.family_before,
        )
        run_day(self.book, inputs)
        self.previous = facts
        self.family_before = family

    def evening(self) -> SchoolEvening | None:
        """What this school's last evening left (None: it has had none yet)."""
        if self.previous is None:
            return None
        return SchoolEvening(
            self.book.school,
            self.book.pupils,
            self.book.state_id >= 0,
            self.previous.values["unauthorised_sessions_last_10_school_weeks"],
        )


def run_with_family(
    runs: Sequence[SchoolRun],
    period: Period,
    contacts: Sequence[ContactVersion],
    *,
    auto_complete: bool,
) -> list[SchoolResult]:
    """Every school day by day, with family facts: before any school's day D, a snapshot of
    every school's previous evening (its last school day before D) and the contacts as known at
    the start of D; every school's D reads it, so the order of schools within a day changes
    nothing. The schools run in one process (each day waits for every school's evening)."""
    with _collector_paused():
        schools = [_SchoolStepper(r, period, auto_complete=auto_complete) for r in runs]
        plans = [dict.fromkeys(s.days()) for s in schools]
        for on in sorted({day for plan in plans for day in plan}):
            snapshot = family_snapshot(contacts, schools, on)
            for school, plan in zip(schools, plans, strict=True):
                if on in plan:
                    family = family_facts(snapshot, school.book.school, school.book.pupils)
                    school.run(on, family)
        return [
            SchoolResult.of(s.book, s.school_run.calendar.school_days[s.first]) for s in schools
        ]


def family_snapshot(
    contacts: Sequence[ContactVersion], schools: Sequence[_SchoolStepper], on: date
) -> FamilySnapshot:
    """The snapshot school day ``on`` reads: each school's previous evening, and the contacts
    recorded before ``on`` began in the schools' time zone."""
    zone = schools[0].school_run.calendar.timezone if schools else "UTC"
    evenings = [e for e in (s.evening() for s in schools) if e is not None]
    return FamilySnapshot.of(as_known_at(contacts, contacts_cut(on, zone)), evenings)


def timeline_json(books: Sequence[SchoolResult], *, header: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's JSON: the header, then cases in (school, pupil) order with their events."""
    cases = []
    for book in sorted(books, key=lambda b: b.school):
        for p in sorted(book.history, key=lambda i: book.pupils[i]):
            cases.append(
                {
                    "school": book.school,
                    "pupil": book.pupils[p],
                    "events": [d.to_event() for d in book.history[p]],
                }
            )
    duties = [
        {
            "school": book.school, "date": u.on.isoformat(), "task": u.task, "role": u.role,
            "due": u.due.isoformat(), "covers": list(u.covers),
        }
        for book in sorted(books, key=lambda b: b.school)
        for u in book.duties
    ]  # fmt: skip
    # school-level duties (a role's check listing the cases it covers), only where a flow has
    # them: a timeline without duties keeps the contract's bytes
    return {**header, **({"duties": duties} if duties else {}), "cases": cases}


def dumps(document: Mapping[str, Any]) -> str:
    """Stable bytes (the same input gives the same output), one case to a line.

    Compact JSON goes through the standard library's C encoder; one case a line keeps a year of a
    trust's timeline quick to write and easy to diff.
    """
    head = {k: v for k, v in document.items() if k != "cases"}
    body = ",\n".join(json.dumps(c, ensure_ascii=False) for c in document.get("cases", []))
    opening = json.dumps(head, ensure_ascii=False)[:-1]
    comma = ", " if head else ""
    return (
        f'{opening}{comma}"cases": [\n{body}\n]}}\n' if body else f'{opening}{comma}"cases": []}}\n'
    )


def _day_range(cal: SchoolCalendar, period: Period) -> tuple[int, int]:
    if period.first is not None:
        cal.check_in_range(period.first)
    cal.check_in_range(period.last)
    first = 0 if period.first is None else cal.index_on_or_before(period.first)
    if period.first is not None and not cal.is_school_day(period.first):
        first += 1
    last = cal.index_on_or_before(period.last)
    if last < first:
        raise CalendarError(f"no school day between {period.first} and {period.last}")
    return first, last


def _actions_by_day(
    actions: Sequence[Action], cal: SchoolCalendar, first: int, last: int
) -> dict[int, list[Action]]:
    """Each action on the school day it falls on (a weekend or holiday: the next school day)."""
    zone = ZoneInfo(cal.timezone)
    out: dict[int, list[Action]] = {}
    for a in actions:
        local = a.at.astimezone(zone).date()
        day = cal.index_on_or_before(local)
        if day < 0 or not cal.is_school_day(local):
            day += 1
        if first <= day <= last:
            out.setdefault(day, []).append(a)
    return out


_ANY = "*"  # the single-flow form: every school in the marks file


@dataclass(frozen=True)
class _School:
    flow: Flow
    calendar: SchoolCalendar
    registers_close: time


def _one_flow(
    flow_path: Path | None, calendar_paths: Sequence[Path]
) -> tuple[dict[str, _School], dict[str, Any]]:
    from escalation_flow.adapters.calendar_files import load_calendar
    from escalation_flow.adapters.flow_files import load_flow

    if flow_path is None or not calendar_paths:
        raise InputError("give a flow and a calendar (or a trust file)")
    flow = load_flow(flow_path)
    calendar = load_calendar(list(calendar_paths))
    header = {"flow": flow.id, "flow_version": flow.version}
    return {_ANY: _School(flow, calendar, DEFAULT_REGISTERS_CLOSE)}, header


def _trust_schools(path: Path) -> tuple[dict[str, _School], dict[str, Any]]:
    from escalation_flow.adapters.school_flows import school_flow
    from escalation_flow.adapters.trust_files import load_trust

    trust = load_trust(path)
    schools: dict[str, _School] = {}
    flows: dict[str, str] = {}
    for sid, cfg in sorted(trust.schools.items()):
        flow = school_flow(trust, sid)  # with the school's overrides written in
        flows[f"{flow.id} ({sid})" if cfg.overrides else flow.id] = flow.version
        close = (
            time.fromisoformat(cfg.registers_close_at) if cfg.registers_close_at else DEFAULT_REGISTERS_CLOSE
        )
        schools[sid] = _School(flow, trust.calendar(sid), close)
    return schools, {"trust": trust.name, "flows": dict(sorted(flows.items()))}


def _marks(paths: Sequence[Path], schools: Mapping[str, _School]) -> dict[str, MarkTable]:
    from escalation_flow.adapters.register_files import OneCalendar, read_marks

    lookup: Mapping[str, SchoolCalendar] = (
        OneCalendar(schools[_ANY].calendar)
        if _ANY in schools
        else {k: s.calendar for k, s in schools.items()}
    )
    tables: dict[str, MarkTable] = {}
    for path in paths:
        result = read_marks(path, lookup)
        for school, table in result.tables.items():
            if school in tables:
                raise InputError(f"{path}: school {school!r} also appears in an earlier marks file")
            tables[school] = table
    return tables


def read_backtest_contacts(path: Path, runs: Sequence[SchoolRun]) -> list[ContactVersion]:
    """The contacts a backtest's family facts read (all or nothing, as ``import contacts``).
    A row without ``recorded_at`` is taken as known from the start: the families as the file
    gives them, on every day."""
    from escalation_flow.adapters.contact_files import read_contacts

    far = datetime(9000, 1, 1, tzinfo=UTC)  # nothing is "after the import" in a backtest
    read = read_contacts(path, {r.school for r in runs}, now=far)
    start = datetime(1, 1, 1, tzinfo=UTC)
    return [
        row.version if row.dated else dataclasses.replace(row.version, recorded_at=start)
        for row in read.rows
    ]


def _rosters(path: Path | None, schools: set[str]) -> dict[str, Roster]:
    if path is None:
        return {}
    from escalation_flow.adapters.register_files import read_roster

    return dict(read_roster(path, schools))
