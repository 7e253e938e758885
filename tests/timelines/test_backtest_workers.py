"""The backtest's schools shared between this process and forked workers: the same timeline as
one process, byte for byte, in school order; a school's refusal raised as the first in school
order, whichever process ran it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.school_day import Action
from escalation_flow.errors import ActionError
from tests.register_builders import ROOT, bundled_calendar, mark_table, school_days, whole_days

CAL = bundled_calendar("2025-26")
TINY = ROOT / "tests/data/flows/tiny-example.yaml"
PERIOD = bt.Period(None, date(2025, 11, 28))


def schools(count: int) -> list[bt.SchoolRun]:
    """``count`` schools, each with a pupil absent for a different run of days."""
    flow = load_flow(TINY)
    days = school_days(CAL, date(2025, 9, 3), date(2025, 11, 28))
    runs = []
    for s in range(count):
        absent = set(days[5 + 3 * s : 12 + 4 * s])
        rows = whole_days(CAL, "P1", [d for d in days if d not in absent], "/")
        rows += whole_days(CAL, "P1", sorted(absent), "O")
        rows += whole_days(CAL, "P2", days, "/")
        name = f"s{s:02d}"
        runs.append(bt.SchoolRun(name, flow, CAL, mark_table(CAL, rows, name)))
    return runs


def timeline(result: list[bt.SchoolResult]) -> str:
    return bt.dumps(bt.timeline_json(result, header={}))


def test_shared_between_processes_the_timeline_is_one_processs_in_school_order() -> None:
    runs = schools(7)
    alone = bt.run_schools(runs, PERIOD, auto_complete=True, workers=1)
    for workers in (2, 3):
        shared = bt.run_schools(runs, PERIOD, auto_complete=True, workers=workers)
        assert [r.school for r in shared] == [r.school for r in runs]
        assert timeline(shared) == timeline(alone)
    assert '"case_opened"' in timeline(alone)  # the pupils' absence opened cases


def _with_bad_action(run: bt.SchoolRun) -> bt.SchoolRun:
    """The school with a staff action naming a task no flow has (named for the school)."""
    bad = Action(datetime(2025, 9, 10, 10, tzinfo=UTC), "P2", f"no_task_{run.school}", "staff")
    return replace(run, actions=(bad,))


@pytest.mark.parametrize("bad", [(1, 4), (4, 5), (0, 6)])
def test_the_first_refusal_in_school_order_is_raised_whichever_process_ran_it(
    bad: tuple[int, int],
) -> None:
    runs = schools(7)
    for index in bad:
        runs[index] = _with_bad_action(runs[index])
    with pytest.raises(ActionError) as alone:
        bt.run_schools(runs, PERIOD, auto_complete=True, workers=1)
    with pytest.raises(ActionError) as shared:
        bt.run_schools(runs, PERIOD, auto_complete=True, workers=2)
    assert f"no_task_s{bad[0]:02d}" in str(alone.value)
    assert str(shared.value) == str(alone.value)
