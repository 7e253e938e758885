"""Undoing a recorded action (``service.undo``), one test body on every store.

The world (``conftest.world``) is after the eighth school day; P2 is put at stage three by an
override and its attendance meeting recorded as held by ``s.one``, which arms the four-week
review: that completion is what the tests undo.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from escalation_flow.adapters.store import Store
from escalation_flow.audit.casework import replay
from escalation_flow.audit.inputs import AuditSource
from escalation_flow.audit.store_check import verify_store
from escalation_flow.audit.verify import check_chain
from escalation_flow.core.case import fold
from escalation_flow.errors import ActionError
from escalation_flow.service import Service
from tests.daemon_builders import SCHOOL
from tests.service.conftest import World
from tests.service.test_service_on_every_store import task_id


def meeting_held(service: Service) -> int:
    """P2 to stage three, then its meeting held by s.one (the review armed); the task id."""
    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    task = task_id(service, "P2", "attendance_meeting")
    service.complete_task(task, "held", by="s.one")
    return task


def case_state(service: Service) -> tuple[Any, ...]:
    view = service.case(SCHOOL, "P2")
    return (
        view.stage,
        view.state,
        tuple(sorted((t.task, t.status) for t in service.tasks(SCHOOL) if t.pupil == "P2")),
        tuple(t.timer for t in view.pending_timers),
    )


def test_undo_within_the_window_puts_the_case_back_as_the_action_found_it(
    world: World,
) -> None:
    service = world.service
    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    before = case_state(service)
    task = task_id(service, "P2", "attendance_meeting")
    service.complete_task(task, "held", by="s.one")
    assert case_state(service) != before  # the review was armed

    world.clock.set(world.clock.now() + timedelta(minutes=14))
    done = service.undo.undo_task(task, by="s.one")

    assert done.correction.action == "attendance_meeting" and done.correction.undoes > 1
    assert case_state(service) == before
    assert service.task(task).status == "open" and service.task(task).completed_by is None
    view = service.case(SCHOOL, "P2")
    assert [e.type for e in view.history][-1] == "action_undone"  # recorded, not deleted
    assert "task_completed" in [e.type for e in view.history]
    with service.ctx.store.read() as tx:
        row = tx.case_row(tx.school_id(SCHOOL), "P2")
        rows = tx.history(row.id)
        loaded = tx.load_case(tx.school_id(SCHOOL), SCHOOL, "P2")
        stored = loaded.case
    assert check_chain(f"{SCHOOL}/P2", rows, length=stored.length, head_hash=loaded.head_hash) == []
    assert fold(SCHOOL, "P2", (r.decision() for r in rows)) == stored


def test_a_letter_the_action_withdrew_comes_back_as_it_was(world: World) -> None:
    """Holding the meeting superseded the meeting request letter; the undo brings it back."""
    service = world.service
    service.override(SCHOOL, "P2", 3, "meeting needed", by="s.head")
    request = task_id(service, "P2", "meeting_request_letter")
    letter = service.task(request).letter_id
    assert letter is not None
    service.approve_letter(letter, by="s.head")
    task = task_id(service, "P2", "attendance_meeting")
    service.complete_task(task, "held", by="s.one")
    assert service.letter(letter).status == "superseded"
    service.undo.undo_task(task, by="s.one")
    assert service.letter(letter).status == "approved"
    assert service.task(request).status == "open"


def test_the_task_undone_can_be_completed_again_and_gives_what_doing_it_once_gave(
    world: World,
) -> None:
    service = world.service
    task = meeting_held(service)
    once = case_state(service)
    service.undo.undo_task(task, by="s.one")
    service.complete_task(task, "held", by="s.one")
    assert case_state(service) == once


def test_undo_is_refused_after_fifteen_minutes(world: World) -> None:
    service = world.service
    task = meeting_held(service)
    after = case_state(service)
    world.clock.set(world.clock.now() + timedelta(minutes=15, seconds=1))
    with pytest.raises(ActionError, match=r"more than 15 minutes ago.*new staff action"):
        service.undo.undo_task(task, by="s.one")
    assert case_state(service) == after


def test_undo_is_refused_for_anyone_but_the_person_who_recorded_it(world: World) -> None:
    service = world.service
    task = meeting_held(service)
    offer = service.undo.offer(SCHOOL, "P2", "s.two")
    assert not offer.possible and "only s.one" in (offer.refusal or "")
    with pytest.raises(ActionError, match=r"only s\.one, who recorded it"):
        service.undo.undo_task(task, by="s.two")
    assert service.undo.offer(SCHOOL, "P2", "s.one").possible


def test_undo_is_refused_once_a_timer_has_fired_since(world: World) -> None:
    service = world.service
    task = meeting_held(service)
    (timer,) = service.case(SCHOOL, "P2").pending_timers
    world.clock.set(timer.fire_at + timedelta(minutes=1))
    assert service.fire_due_timers()
    world.clock.set(world.clock.now() - timedelta(days=40))  # even back inside the window
    with pytest.raises(ActionError, match="timer fired"):
        service.undo.undo_task(task, by="s.one")


def test_undo_is_refused_once_its_letter_was_sent(world: World) -> None:
    """P1's reminder letter approved and recorded as sent: it has gone to the family."""
    service = world.service
    task = task_id(service, "P1", "attendance_reminder_letter")
    letter = service.task(task).letter_id
    assert letter is not None
    service.approve_letter(letter, by="s.head")
    service.complete_task(task, "sent", by="s.head")
    with pytest.raises(ActionError, match="the letter has gone to the family"):
        service.undo.undo_task(task, by="s.head")


def test_an_undo_cannot_itself_be_undone(world: World) -> None:
    service = world.service
    task = meeting_held(service)
    service.undo.undo_task(task, by="s.one")
    with pytest.raises(ActionError, match="already undone"):
        service.undo.undo_last(SCHOOL, "P2", by="s.one")


def test_replay_and_verify_agree_after_an_undo(world: World) -> None:
    if world.backend == "memory":
        pytest.skip("replay and verify read the SQL store")
    store = world.store
    assert isinstance(store, Store)
    service = world.service
    task = meeting_held(service)
    service.undo.undo_task(task, by="s.one")
    report = verify_store(store.engine)
    assert report.ok, report.breaches
    result = replay(AuditSource(store, world.trust), SCHOOL, "P2")
    undo_steps = [s for s in result.steps if s.kind == "undo"]
    assert len(undo_steps) == 1 and undo_steps[0].then.same
    with service.ctx.store.read() as tx:
        stored = tx.load_case(tx.school_id(SCHOOL), SCHOOL, "P2").case
    assert result.case == stored


def test_a_safeguarding_concern_is_not_undone_here(world: World) -> None:
    """It went to the designated safeguarding lead at once: only the lead decides what becomes
    of it."""
    service = world.service
    service.record_event(SCHOOL, "P2", "safeguarding_concern", by="s.one")
    offer = service.undo.offer(SCHOOL, "P2", "s.one")
    assert not offer.possible and "safeguarding record" in (offer.refusal or "")
    with pytest.raises(ActionError, match="designated safeguarding lead"):
        service.undo.undo_last(SCHOOL, "P2", by="s.one")
