"""No bundled plan proposes a penalty notice the law does not allow: every step whose outcomes
ask for or record a penalty notice is guarded by ``penalty_notice_allowed_for_any_parent``, on
the task itself or on every move into its state, and with the fact at 0 none of those guards
can hold, whatever else the facts say."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.definition import Flow
from escalation_flow.core.guards import Guard
from escalation_flow.core.penalty_notices import (
    ALLOWED_FACT,
    proposes_penalty_notice,
    proposing_tasks,
)

FLOWS = sorted((Path(__file__).resolve().parents[2] / "flows").glob("*.yaml"))


@cache
def _flow(path: Path) -> Flow:
    return load_flow(path)


def guarded_sites(flow: Flow) -> list[tuple[str, list[Guard]]]:
    """Each proposing task with the guards that keep it from being proposed: its own ``when``
    if it reads the fact, else the ``when`` of every move into its state."""
    out: list[tuple[str, list[Guard]]] = []
    d = flow.definition
    for side in d.side:
        for task in side.tasks:
            if proposes_penalty_notice(task):
                out.append((task.id, [flow.guard(task.when or "1")]))
    for stage in d.stages:
        for name, state in stage.states.items():
            for task in state.tasks:
                if not proposes_penalty_notice(task):
                    continue
                own = flow.guard(task.when) if task.when else None
                if own is not None and ALLOWED_FACT in own.names:
                    out.append((task.id, [own]))
                    continue
                moves = [
                    t
                    for s in d.stages
                    for st_ in s.states.values()
                    for t in (*st_.on, *s.on)
                    if t.to in (name, f"stage_{stage.number}.{name}")
                ]
                out.append((task.id, [flow.guard(t.when or "1") for t in moves]))
    return out


@pytest.mark.parametrize("path", FLOWS, ids=[p.stem for p in FLOWS])
def test_every_step_proposing_a_penalty_notice_reads_whether_one_is_allowed(path: Path) -> None:
    for task, guards in guarded_sites(_flow(path)):
        assert guards, f"{path.name}: {task} is reached by no guarded move"
        for g in guards:
            assert ALLOWED_FACT in g.names, f"{path.name}: {task}: {g.source!r}"


def test_the_steps_that_propose_a_notice_are_the_plans_penalty_steps() -> None:
    found = {p.stem: proposing_tasks(_flow(p).definition) for p in FLOWS}
    assert {k: sorted(v) for k, v in found.items() if v} == {
        "academy-staged-intervention": ["consider_fixed_penalty"],
        "family-liaison-five-stage": ["consider_penalty_notice", "la_penalty_notice"],
        "sherrier-ce-primary": ["penalty_notice_form"],
    }


def test_the_plans_with_penalty_steps_are_the_ones_guarded() -> None:
    proposing = {p.stem for p in FLOWS if guarded_sites(_flow(p))}
    assert proposing == {
        "academy-staged-intervention",
        "family-liaison-five-stage",
        "sherrier-ce-primary",
    }


@cache
def _sites(path: Path) -> list[tuple[str, list[Guard]]]:
    return guarded_sites(_flow(path))


_VALUES = st.sampled_from([0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 95.0, float("nan")])


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_with_no_parent_allowed_a_notice_no_proposing_guard_holds(data: st.DataObject) -> None:
    for path in FLOWS:
        for _, guards in _sites(path):
            for g in guards:
                env = {n: data.draw(_VALUES, label=n) for n in sorted(g.names)}
                assert not g.holds({**env, ALLOWED_FACT: 0.0}), g.source
