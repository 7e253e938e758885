"""The rules every plan keeps, asserted on the decisions of every bundled flow over generated
registers (Hypothesis): runs of ``/ \\ L U I M C G N O`` across the autumn term, from its first
week, with ``N`` marks amended later to ``I`` or ``O``. The engine is driven through the
backtest's public ``run_school``, as a user's backtest drives it.

1. no legal step without unauthorised absence (G, N, O, U) in the ten school weeks before it,
   on days the pupil was of compulsory school age, for a pupil of that age (issue 16); ten such
   sessions (the national threshold) for a step on the penalty-notice route (a penalty warning
   or form, a notice to improve, an enforcement letter); "legal step" as ``flows check`` reads
   it (``plan_rules.legal_tasks``: a pre-legal meeting is one), all as the register was known
   when the step was decided: a decision in the morning (a timer, a
   staff action) rests on the previous school day's facts as known that evening, so an ``N``
   amended to ``I`` later the same day does not make it wrong (the evening then re-decides);
2. no escalation to the designated safeguarding lead for a pupil whose unauthorised absence is
   only holidays (G) and late arrivals after the register closed (U);
3. a step down is not undone on the day it was taken;
4. an amendment undoes only a step that rested on what it amended: every reconsideration (a
   step undone, a letter superseded, "marks amended") follows an amended mark of that pupil
   dated on or before the day of the step it reconsiders, never one the figures merely moved
   away from since (a half term's count back to 0, a review's window no longer firing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.backtest import Period, SchoolRun, run_school
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import code_id
from escalation_flow.core.definition import Flow
from escalation_flow.core.marks import MarkTable, PupilRecord, Roster, to_micros
from escalation_flow.core.plan_rules import NATIONAL_THRESHOLD, is_penalty_route, legal_tasks
from escalation_flow.core.school_age import compulsory_school_age_span

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


Row = tuple[int, int, str, int]  # pupil, session, code, recorded_at (microseconds)


def register_rows(cal: SchoolCalendar, register: list[list[Run]], until: date = LAST) -> list[Row]:
    """Present every session, then each run's marks (recorded at their session), then any
    amendment of an N run, recorded at the end of a later school day."""
    last = cal.index_on_or_before(until)
    rows: list[Row] = []
    for p, pupil_runs in enumerate(register):
        for i in range(last + 1):
            day = cal.school_days[i]
            for s, present in ((0, "/"), (1, "\\")):
                rows.append((p, 2 * i + s, present, _registration(cal, day, s)))
        for run in pupil_runs:
            for i in range(run.start, min(run.start + run.days, last + 1)):
                day = cal.school_days[i]
                sessions = (0,) if run.code in ("L", "U") else (0, 1)
                for s in sessions:
                    rows.append((p, 2 * i + s, run.code, _registration(cal, day, s) + 1))
                if run.code == "N" and run.amend_to is not None:
                    later = min(i + run.amend_after, last)
                    when = datetime.combine(cal.school_days[later], time(16), tzinfo=UTC)
                    for s in sessions:
                        rows.append((p, 2 * i + s, run.amend_to, to_micros(when)))
    return rows


def marks_of(cal: SchoolCalendar, register: list[list[Run]], until: date = LAST) -> MarkTable:
    rows = register_rows(cal, register, until)
    arr = np.array([(p, s, code_id(c), t) for p, s, c, t in rows], dtype=np.int64).reshape(-1, 4)
    names = tuple(f"P{p:02d}" for p in range(len(register)))
    return MarkTable(
        school="generated", pupils=names, pupil=arr[:, 0].astype(np.int32),
        session=arr[:, 1].astype(np.int32), code=arr[:, 2].astype(np.int8),
        recorded_at=arr[:, 3], minutes_late=np.full(len(arr), -1, np.int16),
    )


def known_codes(
    cal: SchoolCalendar, register: list[list[Run]], pupil: int, on: date, until: date = LAST
) -> list[str]:
    """Each session's code through ``on`` as known at the end of that day: of the rows recorded
    by then, the one recorded last (an amendment beats the mark it amends, whichever run wrote
    that mark; the same instant: the later row, as a register file is read)."""
    last = cal.index_on_or_before(on)
    known_by = to_micros(datetime.combine(on, time(23, 59), tzinfo=ZoneInfo(cal.timezone)))
    codes = ["/"] * (2 * (last + 1))
    latest = [-1] * len(codes)
    for p, session, code, recorded in register_rows(cal, register, until):
        if p == pupil and session < len(codes) and latest[session] <= recorded <= known_by:
            codes[session], latest[session] = code, recorded
    return codes


def unauthorised_in_last_10_weeks(
    cal: SchoolCalendar, codes: list[str], on: date, of_age: tuple[date, date] = (date.min, date.max)
) -> int:
    """Sessions of ``G N O U`` in the ten school weeks ending with ``on``'s week (the national
    threshold's window, contract: ``unauthorised_sessions_last_10_school_weeks``): a week with
    no school session is not one of them, so the window reaches back over a holiday. Only
    sessions on days within ``of_age`` (compulsory school age) count."""
    first = first_day_of_last_10_school_weeks(cal, on)
    return sum(
        1 for k, c in enumerate(codes)
        if c in UNAUTHORISED and k // 2 >= first
        and of_age[0] <= cal.school_days[k // 2] <= of_age[1]
    )


def first_day_of_last_10_school_weeks(cal: SchoolCalendar, on: date) -> int:
    """The index of the first school day of the ten school weeks ending with ``on``'s week,
    counted week by week over the calendar's school days (a week is a Monday-to-Sunday with a
    school day in it), not through the calendar's own week arrays, which the engine reads."""
    week = on.isocalendar()[:2]
    weeks = 1
    for i in range(cal.index_on_or_before(on), -1, -1):
        day_week = cal.school_days[i].isocalendar()[:2]
        if day_week != week:
            week, weeks = day_week, weeks + 1
            if weeks > 10:
                return i + 1
    return 0


History = dict[int, list[dict[str, Any]]]


#: Dates of birth: unknown (of compulsory school age throughout), of that age throughout,
#: of age from 1 January 2026 (a Reception child, as Ruby Clarke), and never of age before the
#: summer term (a Reception child, as Noah Kowalski).
BIRTHS = (None, date(2015, 5, 5), date(2020, 10, 15), date(2021, 2, 1))
Births = tuple[date | None, ...]


def roster_of(births: Births) -> Roster:
    return Roster(school="generated", pupils={
        f"P{p:02d}": PupilRecord(school="generated", pupil=f"P{p:02d}", date_of_birth=born)
        for p, born in enumerate(births)
    })


def replay(
    cal: SchoolCalendar,
    name: str,
    register: list[list[Run]],
    until: date = LAST,
    births: Births = (),
) -> dict[int, list[dict[str, Any]]]:
    """Each pupil's history events; each also says ``facts_of``: the school day whose evening
    facts the decision read (the day before for a morning decision: a timer or a staff action)."""
    marks = marks_of(cal, register, until)
    run = SchoolRun(
        school="generated", flow=flow(name), calendar=cal, marks=marks, roster=roster_of(births)
    )
    book = run_school(run, Period(first=None, last=until), auto_complete=True)
    zone = ZoneInfo(cal.timezone)
    out: dict[int, list[dict[str, Any]]] = {}
    for p, history in book.history.items():
        out[p] = []
        for d in history:
            evening = datetime.combine(d.on, run.registers_close, tzinfo=zone)
            morning = d.at < evening
            today = cal.index_on_or_before(d.on)
            facts_of = cal.school_days[today - 1] if morning and today > 0 else d.on
            out[p].append({**d.to_event(), "facts_of": facts_of.isoformat()})
    return out


def legal_task_ids(f: Flow) -> dict[str, bool]:
    """Each legal step's id, and whether it is on the penalty-notice route."""
    return {t.id: is_penalty_route(t) for _, t in legal_tasks(f.definition)}


def dsl_stages(f: Flow) -> set[int]:
    return {
        stage.number
        for stage in f.definition.stages
        for state in stage.states.values()
        if any(t.role.value == "designated_safeguarding_lead" for t in state.tasks)
    }


#: The loaded profile's examples (``conftest.py``: derandomized under ``CI``).
PROPERTY = settings()


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=pupils)
def test_no_legal_step_without_unauthorised_absence(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    no_legal_step_without_unauthorised(calendar, name, register, replay(calendar, name, register))


def no_legal_step_without_unauthorised(
    calendar: SchoolCalendar,
    name: str,
    register: list[list[Run]],
    history: History,
    until: date = LAST,
    births: Births = (),
) -> None:
    legal = legal_task_ids(flow(name))
    for p, events in history.items():
        born = births[p] if p < len(births) else None
        of_age = compulsory_school_age_span(born)
        for e in events:
            if e["type"] == "task_created" and e["task"] in legal:
                on = date.fromisoformat(e["facts_of"])
                codes = known_codes(calendar, register, p, on, until)
                assert of_age[0] <= on <= of_age[1], ("not of compulsory school age", p, e)
                sessions = unauthorised_in_last_10_weeks(calendar, codes, on, of_age)
                needed = NATIONAL_THRESHOLD if legal[e["task"]] else 1
                assert sessions >= needed, (p, e, sessions)


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=st.lists(st.lists(runs.filter(lambda r: r.code not in ("N", "O")), max_size=5), min_size=1, max_size=4))
def test_holidays_and_late_arrivals_never_reach_the_safeguarding_lead(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    only_a_concern_reaches_the_dsl(name, replay(calendar, name, register))


def only_a_concern_reaches_the_dsl(name: str, history: History) -> None:
    dsl = dsl_stages(flow(name))
    for p, events in history.items():
        for e in events:
            if e["type"] == "stage_entered" and e["stage"] in dsl:
                assert e.get("trigger") == "safeguarding_concern", (p, e)


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=pupils)
def test_a_step_down_is_not_undone_the_same_day(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    no_step_down_undone_the_same_day(replay(calendar, name, register))


def no_step_down_undone_the_same_day(history: History) -> None:
    for p, events in history.items():
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


@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=pupils)
def test_an_amendment_undoes_only_a_step_that_rested_on_what_it_amended(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    amendments_undo_only_what_they_amended(calendar, register, replay(calendar, name, register))


def amended_days(
    cal: SchoolCalendar, register: list[list[Run]], pupil: int, until: date = LAST
) -> list[tuple[date, date]]:
    """(the day of the mark, the school day its amendment was recorded) for each amended mark."""
    last = cal.index_on_or_before(until)
    out = []
    for run in register[pupil]:
        if run.code != "N" or run.amend_to is None:
            continue
        for i in range(run.start, min(run.start + run.days, last + 1)):
            out.append((cal.school_days[i], cal.school_days[min(i + run.amend_after, last)]))
    return out


def amendments_undo_only_what_they_amended(
    cal: SchoolCalendar, register: list[list[Run]], history: History, until: date = LAST
) -> None:
    for p, events in history.items():
        step: date | None = None  # the day of the last step into the case's state
        for e in events:
            reconsidered = e.get("trigger") == "amended" or str(e.get("why", "")).startswith(
                "marks amended"
            )
            if reconsidered:
                assert step is not None, (p, e)
                on = date.fromisoformat(e["date"])
                rested = [(d, r) for d, r in amended_days(cal, register, p, until) if d <= step <= on and r <= on]
                assert rested, ("no amended mark on or before the step of", step.isoformat(), p, e)
            if e["type"] in ("case_opened", "stage_entered", "state_entered"):
                step = date.fromisoformat(e["date"])


#: The deep run's registers reach the spring half term: windows span the Christmas holiday.
DEEP_UNTIL = date(2026, 2, 13)
long_runs = st.builds(
    Run,
    start=st.integers(0, 105),
    days=st.integers(1, 15),
    code=st.sampled_from(ABSENCE_CODES),
    amend_to=st.sampled_from([None, "I", "O"]),
    amend_after=st.integers(1, 6),
)


#: Found by the deep run on sherrier-ce-primary (issue 11 rule 1): three days of O in late
#: November, then illness (M) into the spring term. The legal step of 13 February (decided on
#: 12 February's facts) rests on those O sessions: ten school weeks back from the week of
#: 9 February reach the week of 24 November, over the two weeks of the Christmas holiday.
O_BEFORE_CHRISTMAS_M_AFTER = [
    [Run(76, 10, "M", None, 1), Run(62, 11, "M", None, 1), Run(53, 3, "O", None, 1)]
]


@pytest.mark.slow
@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(register=st.lists(st.lists(long_runs, max_size=8), min_size=1, max_size=6))
@example(register=O_BEFORE_CHRISTMAS_M_AFTER)
def test_every_rule_holds_over_autumn_and_spring(
    calendar: SchoolCalendar, name: str, register: list[list[Run]]
) -> None:
    """The deeper run: more pupils, longer registers, two terms and a holiday between."""
    history = replay(calendar, name, register, DEEP_UNTIL)
    no_legal_step_without_unauthorised(calendar, name, register, history, DEEP_UNTIL)
    no_step_down_undone_the_same_day(history)
    amendments_undo_only_what_they_amended(calendar, register, history, DEEP_UNTIL)


#: Issue 16, Ruby Clarke: two weeks of O in November for a Reception child who becomes of
#: compulsory school age on 1 January; the O sessions are still within ten school weeks on
#: 5 January, but were missed before that age.
O_BEFORE_OF_AGE = [[Run(45, 10, "O", None, 1)]]


@pytest.mark.slow
@pytest.mark.parametrize("name", FLOWS)
@PROPERTY
@given(
    register=st.lists(st.lists(long_runs, max_size=8), min_size=1, max_size=4),
    births=st.lists(st.sampled_from(BIRTHS), min_size=4, max_size=4),
)
@example(register=O_BEFORE_OF_AGE, births=[date(2020, 9, 6), None, None, None])
def test_no_legal_step_below_compulsory_school_age_or_the_threshold(
    calendar: SchoolCalendar, name: str, register: list[list[Run]], births: list[date | None]
) -> None:
    """Over autumn and spring, for Reception children who become of compulsory school age in
    January or only in April: no legal step for a pupil not of that age, none resting on
    sessions missed before it, and no penalty-route step below the national threshold."""
    history = replay(calendar, name, register, DEEP_UNTIL, tuple(births))
    no_legal_step_without_unauthorised(
        calendar, name, register, history, DEEP_UNTIL, tuple(births)
    )


#: Found by the property on merge (issue 11): ten sessions of N at stage three's entry on
#: 14 October, every one amended to I on 21 October, the morning the referral is done.
N_AMENDED_THE_MORNING_OF_THE_STEP = [
    [Run(15, 10, "I", None, 1)]
    + [Run(day, 1, "N", "I", after) for day, after in
       ((25, 5), (26, 5), (27, 5), (28, 6), (29, 5), (30, 4), (31, 3), (32, 2), (33, 1))]
]


def test_a_legal_step_decided_on_an_n_is_withdrawn_the_evening_the_n_becomes_illness(
    calendar: SchoolCalendar,
) -> None:
    """The morning of 21 October reads 20 October's register (twelve sessions of N): the
    criminal investigation is created, legitimately; by that evening every N is I, and the
    flow's ``daily`` move takes the case on and supersedes it the same day."""
    events = replay(calendar, "academy-staged-intervention", N_AMENDED_THE_MORNING_OF_THE_STEP)[0]
    made = [e for e in events if e["type"] == "task_created" and e["task"] == "criminal_investigation"]
    gone = [e for e in events if e["type"] == "task_superseded" and e["task"] == "criminal_investigation"]
    assert [(e["date"], e["facts_of"]) for e in made] == [("2025-10-21", "2025-10-20")]
    assert [e["date"] for e in gone] == ["2025-10-21"]
    codes = known_codes(calendar, N_AMENDED_THE_MORNING_OF_THE_STEP, 0, date(2025, 10, 20))
    assert unauthorised_in_last_10_weeks(calendar, codes, date(2025, 10, 20)) == 12


#: Found by the same property once the oracle read the morning right: five days of N amended
#: to O the next afternoon, over which a run of I is written at the same instant as the N.
I_OVER_AN_N_AMENDED_TO_O = [[Run(0, 5, "N", "O", 1), Run(0, 5, "I", None, 1)]]


def test_an_amendment_recorded_later_beats_the_mark_it_amends(calendar: SchoolCalendar) -> None:
    """The oracle reads the register as the engine does: the O recorded the next afternoon is
    the session's mark, though the I run comes later in the list (it was recorded first)."""
    codes = known_codes(calendar, I_OVER_AN_N_AMENDED_TO_O, 0, date(2025, 9, 10))
    assert codes[:10] == ["O"] * 10
    assert known_codes(calendar, I_OVER_AN_N_AMENDED_TO_O, 0, date(2025, 9, 3))[:2] == ["I", "I"]


def test_ten_school_weeks_reach_back_over_the_christmas_holiday(calendar: SchoolCalendar) -> None:
    """Sherrier's ``la_legal_powers`` on 13 February rests on the O sessions of 25-27 November:
    the threshold's ten school weeks (the weeks of 9 February back to 24 November) skip the two
    weeks of the holiday, so the step is lawful and the rule holds."""
    register, on = O_BEFORE_CHRISTMAS_M_AFTER, date(2026, 2, 12)
    first = first_day_of_last_10_school_weeks(calendar, on)
    assert calendar.school_days[first] == date(2025, 11, 24)
    codes = known_codes(calendar, register, 0, on, DEEP_UNTIL)
    assert unauthorised_in_last_10_weeks(calendar, codes, on) == 6
    history = replay(calendar, "sherrier-ce-primary", register, DEEP_UNTIL)
    made = [e for e in history[0] if e["type"] == "task_created" and e["task"] == "la_legal_powers"]
    assert [(e["date"], e["facts_of"]) for e in made] == [("2026-02-13", "2026-02-12")]
    no_legal_step_without_unauthorised(
        calendar, "sherrier-ce-primary", register, history, DEEP_UNTIL
    )
