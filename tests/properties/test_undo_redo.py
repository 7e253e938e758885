"""Undo then redo is the same as doing it once (Hypothesis, on the memory store).

From the service world of ``tests/service`` (P2 at stage two; put at stage three by an override
here), a generated run of staff actions is applied twice: once plainly, and once with every
action undone and done again straight after. The cases must be the same (but for the length of
their histories and the serials their keys are numbered from), and after each undo the case the
store keeps is the history folded, as replay and ``audit verify`` fold it.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from escalation_flow.adapters.memory import MemoryStore
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.core.case import Case, fold
from escalation_flow.errors import ActionError, ConflictError
from escalation_flow.service import Service
from tests.daemon_builders import SCHOOL, evening_clock, write_trust
from tests.service.conftest import memory_state


@cache
def _built() -> tuple[MemoryStore, Path]:
    folder = Path(tempfile.mkdtemp(prefix="ef-undo-property-"))
    return memory_state(folder), write_trust(folder / "trust")


def service() -> Service:
    store, trust = _built()
    clock = evening_clock()
    out = Root(clock).build_service(store.clone(), load_trust(trust), worker="test")
    out.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    return out


def essentials(case: Case) -> tuple[Any, ...]:
    """The case but for its length and key serials (an undone task's key is not reused)."""
    return (
        case.stage, case.state, case.opened_on, case.closed_on, case.stage_entered_on,
        case.state_entered_on, tuple((t.task, t.due) for t in case.tasks),
        tuple((t.timer, t.due) for t in case.timers), case.event_counts, case.entered_by,
        case.previous_state, case.acted_in_state, case.recorded_on,
    )  # fmt: skip


def stored(s: Service) -> tuple[Case, Case]:
    """The case the store keeps, and its history folded."""
    with s.ctx.store.read() as tx:
        sid = tx.school_id(SCHOOL)
        row = tx.case_row(sid, "P2")
        folded = fold(SCHOOL, "P2", (r.decision() for r in tx.history(row.id)))
        return tx.load_case(sid, SCHOOL, "P2").case, folded


def act(s: Service, choice: int, outcome: int) -> bool:
    """The ``choice``-th thing P2's case offers (an open task, else one of the plan's events)
    with its ``outcome``-th outcome; False when the flow refuses it."""
    flow = s.setup(SCHOOL).flow
    tasks = [t for t in s.tasks(SCHOOL) if t.pupil == "P2" and t.case_id is not None]
    events = list(flow.definition.events)
    try:
        if choice < len(tasks):
            task = tasks[choice]
            spec = next(
                (x for st_ in flow.states.values() for x in st_.state.tasks if x.id == task.task),
                None,
            )
            outcomes = spec.outcomes if spec else ("done",)
            s.complete_task(task.id, outcomes[outcome % len(outcomes)], by="s.one")
            return True
        event = events[(choice - len(tasks)) % len(events)]
        outcomes = event.outcomes or (None,)
        return bool(
            s.record_event(SCHOOL, "P2", event.id, by="s.one", outcome=outcomes[outcome % len(outcomes)])
        )
    except (ActionError, ConflictError):
        return False


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), min_size=1, max_size=3))
@example([(1, 0), (0, 0)])  # the meeting held (the review armed), then the next task
def test_undo_then_redo_leaves_the_case_as_doing_it_once(steps: list[tuple[int, int]]) -> None:
    once, twice = service(), service()
    acted = 0
    for choice, outcome in steps:
        done = act(once, choice, outcome)
        if not done:
            continue
        acted += 1
        assert act(twice, choice, outcome)
        offer = twice.undo.offer(SCHOOL, "P2", "s.one")
        if not offer.possible:  # only a safeguarding record is kept from an undo in time
            assert "safeguarding record" in (offer.refusal or ""), offer.refusal
            continue
        twice.undo.undo_last(SCHOOL, "P2", "s.one")
        kept, folded = stored(twice)
        assert kept == folded  # the store's case is the history folded
        assert act(twice, choice, outcome)
        for s in (once, twice):
            s.ctx.clock.set(s.ctx.now() + timedelta(minutes=1))  # type: ignore[attr-defined]
    assert essentials(stored(once)[0]) == essentials(stored(twice)[0])
    assert stored(twice)[0] == stored(twice)[1]
    if steps == [(1, 0), (0, 0)]:
        assert acted == 2  # the example exercises the undo, not only refusals
