"""Pupils the evening's screen brought in only on a side action's ``when``, none of whose tasks'
``when`` holds, are not evaluated: the histories are the same as with every one of them
evaluated, and on a bundled plan with side actions some are spared."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core import evaluation, school_day
from escalation_flow.core.decisions import Decision
from escalation_flow.core.marks import MarkTable
from tests.register_builders import Row, bundled_calendar, mark_table, school_days, whole_days

ROOT = Path(__file__).resolve().parents[2]
CALENDAR = bundled_calendar("2025-26")
LAST = date(2026, 3, 27)
LONDON = ZoneInfo("Europe/London")
#: a bundled plan with daily side actions, and one without
FLOWS = ("family-liaison-five-stage", "academy-staged-intervention")


def registers(seed: int, pupils: int = 24) -> MarkTable:
    """Pupils with a year of patchy attendance (holidays, unexplained and unauthorised absence,
    illness, lates), some marks amended a few days later."""
    rng = random.Random(seed)
    days = school_days(CALENDAR, CALENDAR.first_day, LAST)
    rows: list[Row] = []
    for i in range(pupils):
        weights = [rng.randint(8, 30)] + [rng.randint(0, 3) for _ in range(6)]
        for k, day in enumerate(days):
            code = rng.choices(["/", "O", "N", "G", "I", "L", "U"], weights)[0]
            at = datetime.combine(day, time(9, 5), tzinfo=LONDON).astimezone(UTC)
            rows += whole_days(CALENDAR, f"P{i:02d}", [day], code, None, recorded_at=at)
            if rng.random() < 0.02 and k + 3 < len(days):
                later = datetime.combine(days[k + 3], time(10), tzinfo=LONDON).astimezone(UTC)
                rows.append((f"P{i:02d}", day, "AM", "I", later))
    return mark_table(CALENDAR, rows)


def histories(flow_name: str, marks: MarkTable) -> tuple[dict[int, list[Decision]], int]:
    """The school's histories, and how many evaluations made them."""
    flow = load_flow(ROOT / "flows" / f"{flow_name}.yaml")
    counted = [0]
    real = evaluation.evaluate

    def count(*args: Any) -> evaluation.Evaluation:
        counted[0] += 1
        return real(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "evaluate", count)
        run = bt.SchoolRun(school="s", flow=flow, calendar=CALENDAR, marks=marks)
        book = bt.run_school(run, bt.Period(None, LAST), auto_complete=True)
    return book.history, counted[0]


def everyone_evaluated(fn: Callable[[], Any]) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(school_day, "_SPARE_IDLE", False)
        return fn()


@pytest.mark.parametrize("flow_name", FLOWS)
@pytest.mark.parametrize("seed", [1, 2])
def test_sparing_idle_pupils_leaves_every_history_as_it_was(flow_name: str, seed: int) -> None:
    marks = registers(seed)
    spared, fewer = histories(flow_name, marks)
    every, more = everyone_evaluated(lambda: histories(flow_name, marks))
    assert spared == every
    assert fewer <= more


def test_idle_pupils_are_spared_on_the_family_liaison_plan() -> None:
    """The comparison above compares something: pupils at the notice to improve, whose notice
    does not apply, were evaluated every day before and are not now."""
    marks = registers(1)
    spared, fewer = histories("family-liaison-five-stage", marks)
    every, more = everyone_evaluated(lambda: histories("family-liaison-five-stage", marks))
    assert spared == every and any(spared.values())
    assert fewer < more
