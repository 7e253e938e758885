"""The rules every plan keeps, asserted on the decisions of every bundled flow over generated
registers (Hypothesis): runs of ``/ \\ L U I M C G N O`` across the autumn term, from its first
week, with ``N`` marks amended later to ``I`` or ``O``. The engine is driven through the
backtest's public ``run_school``, as a user's backtest drives it.

1. no legal step without unauthorised absence (G, N, O, U) in the ten school weeks before it;
2. no escalation to the designated safeguarding lead for a pupil whose unauthorised absence is
   only holidays (G) and late arrivals after the register closed (U);
3. a step down is not undone on the day it was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.backtest import Period, SchoolRun, run_school
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import code_id
from escalation_flow.core.definition import Flow
from escalation_flow.core.marks import MarkTable, to_micros

ROOT = Path(__file__).resolve().parents[2]
FLOWS = sorted(p.stem for p in (ROOT / "flows").glob("*.yaml"))
LAST = date(2025, 12, 19)
UNAUTHORISED = {"G", "N", "O", "U"}
ABSENCE_CODES = ["L", "U", "I", "M", "C", "G", "N", "O"]


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_calendar([ROOT / "config/calendars/england-2025-26.yaml"])


_FLOWS: dict[str, Flow] = {}


def flow(name: str) -> Flow:
    if name not in _FLOWS:
        _FLOWS[name] = load_flow(ROOT / "flows" / f"{name}.yaml")
    return _FLOWS[name]


@dataclass(frozen=True)
class Run:
    """A run of one code over ``days`` school days from school day ``start``; an ``N`` run may
    be amended ``amend_after`` school days later to ``amend_to``."""

    start: int
    days: int
    code: str
    amend_to: str | None
    amend_after: int


runs = st.builds(
    Run,
    start=st.integers(0, 70),
    days=st.integers(1, 12),
    code=st.sampled_from(ABSENCE_CODES),
    amend_to=st.sampled_from([None, "I", "O"]),
    amend_after=st.integers(1, 6),
)
pupils = st.lists(st.lists(runs, max_size=5), min_size=1, max_size=4)


def _registration(cal: SchoolCalendar, day: date, session: int) -> int:
    clock = time(9, 0) if session == 0 else time(13, 30)
    return to_micros(datetime.combine(day, clock, tzinfo=UTC))


def marks_of(cal: SchoolCalendar, register: list[list[Run]]) -> MarkTable:
    """Present every session, then each run's marks (recorded at their session), then any
    amendment of an N run, recorded at the end of a later school day."""
    last = cal.index_on_or_before(LAST)
    rows: list[tuple[int, int, int, int]] = []
    for p, pupil_runs in enumerate(register):
        for i in range(last + 1):
            day = cal.school_days[i]
            for s, present in ((0, "/"), (1, "\\")):
                rows.append((p, 2 * i + s, code_id(present), _registration(cal, day, s)))
        for run in pupil_runs:
            for i in range(run.start, min(run.start + run.days, last + 1)):
                day = cal.school_days[i]
                sessions = (0,) if run.code in ("L", "U") else (0, 1)
                for s in sessions:
                    rows.append((p, 2 * i + s, code_id(run.code), _registration(cal, day, s) + 1))
                if run.code == "N" and run.amend_to is not None:
                    later = min(i + run.amend_after, last)
                    when = datetime.combine(cal.school_days[later], time(16), tzinfo=UTC)
                    for s in sessions:
                        rows.append((p, 2 * i + s, code_id(run.amend_to), to_micros(when)))
    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    names = tuple(f"P{p:02d}" for p in range(len(register)))
    return MarkTable(
        school="generated", pupils=names, pupil=arr[:, 0].astype(np.int32),
        session=arr[:, 1].astype(np.int32), code=arr[:, 2].astype(np.int8),
        recorded_at=arr[:, 3], minutes_late=np.full(len(arr), -1, np.int16),
    )


def known_codes(cal: SchoolCalendar, register: list[list[Run]], pupil: int, on: date) -> list[str]:
    """Each session's code through ``on`` as known that evening (amendments made by then)."""
    last = cal.index_on_or_before(on)
    codes = ["/"] * (2 * (last + 1))
    for run in register[pupil]:
        for i in range(run.start, min(run.start + run.days, last + 1)):
            sessions = (0,) if run.code in ("L", "U") else (0, 1)
            amended = run.code == "N" and run.amend_to is not None and i + run.amend_after <= last
            for s in sessions:
                codes[2 * i + s] = run.amend_to if amended and run.amend_to else run.code
    return codes


def unauthorised_in_last_10_weeks(cal: SchoolCalendar, codes: list[str], on: date) -> int:
    start = on - timedelta(weeks=10) - timedelta(days=7)  # generous: school weeks reach further
    return sum(
        1
        for k, c in enumerate(codes)
        if c in UNAUTHORISED and cal.school_days[k // 2] > start
    )


def replay(cal: SchoolCalendar, name: str, register: list[list[Run]]) -> dict[int, list[dict[str, Any]]]:
    run = SchoolRun(school="generated", flow=flow(name), calendar=cal, marks=marks_of(cal, register))
    book = run_school(run, Period(first=None, last=LAST), auto_complete=True)
    return {p: [d.to_event() for d in history] for p, history in book.history.items()}


def legal_tasks(f: Flow) -> set[str]:
    tasks = set()
    for stage in f.definition.stages:
        for state in stage.states.values():
            tasks |= {t.id for t in state.tasks if t.is_legal_step}
    return tasks


def dsl_stages(f: Flow) -> set[int]:
    return {
        stage.number
        for stage in f.definition.stages
        for state in stage.states.values()
        if any(t.role.value == "designated_safeguarding_lead" for t in state.tasks)
    }


PROPERTY = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=pupils)
def test_no_legal_step_without_unauthorised_absence(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    legal = legal_tasks(flow(name))
    for p, events in replay(calendar, name, register).items():
        for e in events:
            if e["type"] == "task_created" and e["task"] in legal:
                on = date.fromisoformat(e["date"])
                codes = known_codes(calendar, register, p, on)
                assert unauthorised_in_last_10_weeks(calendar, codes, on) >= 1, (p, e)


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=st.lists(st.lists(runs.filter(lambda r: r.code not in ("N", "O")), max_size=5), min_size=1, max_size=4))
def test_holidays_and_late_arrivals_never_reach_the_safeguarding_lead(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    dsl = dsl_stages(flow(name))
    for p, events in replay(calendar, name, register).items():
        for e in events:
            if e["type"] == "stage_entered" and e["stage"] in dsl:
                assert e.get("trigger") == "safeguarding_concern", (p, e)


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=pupils)
def test_a_step_down_is_not_undone_the_same_day(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    for p, events in replay(calendar, name, register).items():
        stage, stepped_down_from, day = 0, None, None
        for e in events:
            if e["type"] not in ("stage_entered", "state_entered"):
                continue
            new_stage = e.get("stage", stage)
            if e["type"] == "stage_entered" and e.get("trigger") == "escalation":
                assert not (stepped_down_from == new_stage and day == e["date"]), (p, e)
            if e["type"] == "stage_entered" and 0 < new_stage < stage:
                stepped_down_from, day = stage, e["date"]
            stage = new_stage
