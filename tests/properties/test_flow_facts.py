"""A backtest's evenings compute only the register facts the flow reads (``core.flow_facts``):
each of those is, value for value, what counting every fact gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core import flow_facts
from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.facts import DayWindows, facts_from_counts
from escalation_flow.core.flow_facts import FlowFacts, flow_fact_names
from escalation_flow.core.marks import MarkTable
from escalation_flow.core.register import AssumeRecordedAtEndOfDay
from escalation_flow.core.timeline import KnownAtTimeline
from tests.properties.test_timeline_counts import CAL, DAYS, amended_registers
from tests.register_builders import mark_table, whole_days

FLOWS = sorted((Path(__file__).resolve().parents[2] / "flows").glob("*.yaml"))
NAMES = sorted(REGISTER_FACTS)


def _compare(marks: MarkTable, names: set[str], min_ytd: int) -> None:
    timeline = KnownAtTimeline(marks, CAL, unknown_recorded_at=AssumeRecordedAtEndOfDay())
    some = FlowFacts(DayWindows.of(CAL), names, min_possible_sessions_ytd=min_ytd)
    for step in timeline.steps(0, len(DAYS) - 1):
        got = some.at(timeline.counts, step.day_index)
        want = facts_from_counts(timeline.counts, step.day_index, min_possible_sessions_ytd=min_ytd)
        assert names <= got.values.keys()
        assert (got.school, got.pupils, got.as_of) == (want.school, want.pupils, want.as_of)
        for name in names:
            np.testing.assert_array_equal(
                got.values[name], want.values[name], err_msg=f"{name} on day {step.day_index}"
            )


@given(amended_registers(), st.sets(st.sampled_from(NAMES), max_size=6), st.integers(0, 20))
def test_the_facts_a_flow_reads_are_the_facts_counted_in_full(
    marks: MarkTable, names: set[str], min_ytd: int
) -> None:
    _compare(marks, names, min_ytd)


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_each_bundled_flow_reads_a_few_register_facts_found_from_its_guards(path: Path) -> None:
    flow = load_flow(path)
    names = flow_fact_names(flow)
    assert {"attendance_pct", "compulsory_school_age"} <= names < REGISTER_FACTS.keys()
    for guard in flow.guards.values():
        assert guard.names & REGISTER_FACTS.keys() <= names


def test_a_fact_no_group_is_known_to_give_gets_every_fact(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fact added to ``core.facts`` and not to ``flow_facts``' groups is still computed."""
    monkeypatch.setattr(flow_facts, "_GROUPS", flow_facts._GROUPS[1:])  # no year-to-date group
    rows = whole_days(CAL, "P1", DAYS[::2], "/") + whole_days(CAL, "P1", DAYS[1::2], "O")
    marks = mark_table(CAL, rows + whole_days(CAL, "P2", DAYS, "N"))
    _compare(marks, {"attendance_pct", "absent_today"}, 5)
