"""One road through a pupil's day: every caller reaches ``core.evaluation.evaluate``, only it asks
the engine, and the school day's numpy screen only chooses whom to evaluate (evaluating every
pupil without it decides the same)."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.audit.knowledge import PupilMarkHistory
from escalation_flow.audit.quiet_days import Evenings
from escalation_flow.audit.replay import replay_case
from escalation_flow.audit.step_replay import ReplayInputs
from escalation_flow.audit.steps import HistoryRecord
from escalation_flow.core import engine, evaluation, school_day
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.day_env import DayEnv
from escalation_flow.core.decisions import Decision, Stimulus
from escalation_flow.core.definition import DAILY, Flow
from escalation_flow.core.marks import MarkTable
from escalation_flow.core.school_cases import SchoolCases
from tests.register_builders import Row, bundled_calendar, mark_table, school_days, whole_days

ROOT = Path(__file__).resolve().parents[2]
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))
SRC = ROOT / "src" / "escalation_flow"
LONDON = ZoneInfo("Europe/London")
CALENDAR = bundled_calendar("2025-26")
LAST = date(2025, 12, 19)  # the autumn term's last day: term_end comes that evening


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


@pytest.fixture(scope="module")
def flows() -> dict[str, Flow]:
    return {path.stem: load_flow(path) for path in FLOWS}


# -- every caller reaches the one evaluation --------------------------------------------------


class Recorder:
    """Wraps ``evaluation.evaluate``: for each call, the stimulus kind and the modules of
    ``escalation_flow`` on the stack that led to it."""

    def __init__(self, real: Callable[..., evaluation.Evaluation]) -> None:
        self.real = real
        self.calls: list[tuple[str, frozenset[str]]] = []

    def __call__(self, *args: Any) -> evaluation.Evaluation:
        stimulus = args[4]
        assert isinstance(stimulus, Stimulus)
        self.calls.append((stimulus.kind, frozenset(_callers())))
        return self.real(*args)

    def kinds_from(self, module: str) -> set[str]:
        return {kind for kind, modules in self.calls if f"escalation_flow.{module}" in modules}


def _callers() -> Iterator[str]:
    frame = inspect.currentframe()
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name.startswith("escalation_flow."):
            yield name
        frame = frame.f_back


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    wrapper = Recorder(evaluation.evaluate)
    monkeypatch.setattr(evaluation, "evaluate", wrapper)
    return wrapper


@pytest.fixture
def engine_callers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The function that called ``engine.decide``, for every call."""
    real = engine.decide
    seen: list[str] = []

    def decide(*args: Any, **kwargs: Any) -> tuple[list[Decision], Any]:
        caller = inspect.stack()[1]
        seen.append(f"{caller.frame.f_globals['__name__']}.{caller.function}")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "decide", decide)
    return seen


def lates_then_absence(cal: SchoolCalendar) -> MarkTable:
    """P1: late three times in September, then absent every Monday and Tuesday; the first
    late is amended to present a fortnight later (so the evening reconsiders the case)."""
    rows: list[Row] = []
    lates = {date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12)}
    for day in school_days(cal, cal.first_day, LAST):
        if day in lates:
            am = "L"
        elif day >= date(2025, 9, 22) and day.weekday() < 2:
            am = "O"
        else:
            am = "/"
        rows += whole_days(cal, "P1", [day], am, None, recorded_at=local(day, 9, 5))
    rows.append(("P1", date(2025, 9, 8), "AM", "/", local(date(2025, 9, 22), 9)))
    return mark_table(cal, rows)


def test_the_backtest_school_day_replay_and_quiet_evenings_all_reach_the_one_evaluation(
    flows: dict[str, Flow], recorder: Recorder, engine_callers: list[str]
) -> None:
    flow = flows["leigh-academy-oaks"]
    marks = lates_then_absence(CALENDAR)
    run = bt.SchoolRun(school="oaks", flow=flow, calendar=CALENDAR, marks=marks)
    book = bt.run_school(run, bt.Period(None, LAST), auto_complete=True)
    through_day = recorder.kinds_from("core.school_day")
    assert {"timer", "action", "amended", DAILY} <= through_day
    assert through_day == recorder.kinds_from("backtest")

    recorder.calls.clear()
    history = [_record(seq, d, flow.version) for seq, d in enumerate(book.history[0], 1)]
    days = school_days(CALENDAR, CALENDAR.first_day, LAST)
    evenings = Evenings({d: local(d, 18) for d in days})
    register = PupilMarkHistory(marks, "P1", CALENDAR)
    inputs = ReplayInputs("oaks", "P1", history, {flow.version: flow}, CALENDAR, register, evenings)
    result = replay_case(inputs)
    assert result.agrees
    assert {"timer", "action", DAILY} <= recorder.kinds_from("audit.replay")
    assert {DAILY, "term_end"} <= recorder.kinds_from("audit.quiet_days")
    assert set(engine_callers) == {"escalation_flow.core.evaluation.evaluate"}


def _record(seq: int, d: Decision, version: str) -> HistoryRecord:
    body = d.to_event()
    return HistoryRecord(seq, d.on, d.at, d.type, body, version, str(body.get("by", "engine")), d.at)


#: Who may call the engine: the one evaluation, nothing else.
ENGINE_CALLERS = {"core/evaluation.py"}


def test_only_the_evaluation_module_asks_the_engine_to_decide() -> None:
    names = {"decide"}
    calling = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            imported = (
                isinstance(node, ast.ImportFrom)
                and node.module == "escalation_flow.core.engine"
                and bool({a.name for a in node.names} & names)
            )
            called = (
                isinstance(node, ast.Attribute)
                and node.attr in names
                and isinstance(node.value, ast.Name)
                and node.value.id == "engine"
            )
            if imported or called:
                calling.add(path.relative_to(SRC).as_posix())
    assert calling <= ENGINE_CALLERS
    assert "core/evaluation.py" in calling


# -- the screen only chooses whom to evaluate ------------------------------------------------

CODES = ("/", "/", "/", "/", "O", "N", "L", "U", "I", "G")
DAYS = school_days(CALENDAR, CALENDAR.first_day, LAST)


@st.composite
def registers(draw: st.DrawFn) -> tuple[str, MarkTable]:
    """A few pupils' autumn terms: each pupil a pattern of codes repeated with noise, and some
    earlier marks amended a few days later."""
    flow = draw(st.sampled_from([p.stem for p in FLOWS]))
    n = draw(st.integers(2, 6))
    rows: list[Row] = []
    for i in range(n):
        pupil = f"P{i}"
        pattern = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=10))
        noise = draw(st.lists(st.sampled_from(CODES), min_size=len(DAYS), max_size=len(DAYS)))
        rate = draw(st.integers(0, 4))
        for k, day in enumerate(DAYS):
            code = noise[k] if k % 5 < rate % 5 and rate else pattern[k % len(pattern)]
            rows += whole_days(CALENDAR, pupil, [day], code, None, recorded_at=local(day, 9, 5))
        for _ in range(draw(st.integers(0, 3))):
            k = draw(st.integers(0, len(DAYS) - 6))
            later = draw(st.integers(1, 5))
            code = draw(st.sampled_from(CODES))
            rows.append((pupil, DAYS[k], "AM", code, local(DAYS[k + later], 10)))
    return flow, mark_table(CALENDAR, rows)


def _everyone(
    book: SchoolCases, env: DayEnv, kind: str, amended: Sequence[int], idle: object = None
) -> list[tuple[int, int | None]]:
    """No screen: every pupil the book runs is put to every evening stimulus (``amended``
    still only for the pupils whose marks changed: that is the input, not a screen), and the
    engine looks for the stage itself."""
    if kind == evaluation.AMENDED:
        return [(p, None) for p in amended]
    return [(p, None) for p in range(len(book.pupils)) if book.decides_for is None or book.decides_for[p]]


def _history(flow: Flow, marks: MarkTable) -> tuple[dict[int, list[Decision]], list[Any]]:
    run = bt.SchoolRun(school="oaks", flow=flow, calendar=CALENDAR, marks=marks)
    book = bt.run_school(run, bt.Period(None, LAST), auto_complete=True)
    return book.history, book.universal_tasks


@settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(registers())
def test_every_pupils_evening_without_the_screen_decides_what_the_screened_day_decides(
    case: tuple[str, MarkTable],
) -> None:
    name, marks = case
    flow = load_flow(ROOT / "flows" / f"{name}.yaml")
    screened = _history(flow, marks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(school_day, "_screen", _everyone)
        unscreened = _history(flow, marks)
    assert screened == unscreened


def test_the_unscreened_run_is_not_the_screened_one() -> None:
    """The comparison above compares something: without the screen, pupils are evaluated
    who the screen leaves out (and the engine finds nothing to do for them)."""
    flow = load_flow(ROOT / "flows" / "leigh-academy-oaks.yaml")
    marks = lates_then_absence(CALENDAR)
    counted: dict[str, int] = {}
    real = evaluation.evaluate

    def count(label: str) -> Callable[..., evaluation.Evaluation]:
        def wrapped(*args: Any) -> evaluation.Evaluation:
            counted[label] = counted.get(label, 0) + 1
            return real(*args)

        return wrapped

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "evaluate", count("screened"))
        screened = _history(flow, marks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "evaluate", count("everyone"))
        patch.setattr(school_day, "_screen", _everyone)
        unscreened = _history(flow, marks)
    assert screened == unscreened and screened[0]
    assert counted["everyone"] > counted["screened"] + len(DAYS) // 2
