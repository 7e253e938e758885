"""Every outcome of a letter task says the letter left the school: "given", "given at a
meeting", "sent home" (who-does-what-and-when), "agreed"/"declined" (a contract), not only
"sent". Each needs the letter approved first, records it as gone, stops its undo, and keeps it
out of the outbox (the family has it already)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from escalation_flow.actors import Actors
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role
from escalation_flow.errors import ActionError
from escalation_flow.service import Service
from escalation_flow.web.passwords import hash_password
from tests.e2e.web_world import FIRST_DAY, NOW, TODAY, new_world, sample_trust

SCHOOL = "school-05"  # who-does-what-and-when: letter_2 "given", letter_3 "sent_home"


def test_a_letter_handed_over_needs_approval_first_then_counts_as_gone(tmp_path: Path) -> None:
    world = new_world(tmp_path)
    store = Store(world.url)
    try:
        trust = sample_trust()
        clock = SimulatedClock(datetime.combine(FIRST_DAY, time(6), UTC))
        staff = StaffStore(store.engine)
        grant = (Grant(Role.ATTENDANCE_LEAD, SCHOOL),)
        staff.add_staff("lead5", "L Five", hash_password("x" * 20), grant, clock.now())
        service = Service(store, trust, clock, worker="test", actors=Actors(staff))
        calendar, day = trust.calendar(SCHOOL), FIRST_DAY
        while day <= TODAY:
            if calendar.is_school_day(day):
                clock.set(datetime.combine(day, time(17, 30), UTC))
                service.fire_due_timers()
                service.run_day(SCHOOL, day)
            day += timedelta(days=1)
        clock.set(NOW)
        service.override(SCHOOL, "S05-P0001", 2, "a meeting is needed", "lead5")
        service.override(SCHOOL, "S05-P0002", 3, "a meeting is needed", "lead5")
        handed = {
            t.task: t for t in service.tasks(SCHOOL) if t.task in ("letter_2", "letter_3")
        }
        assert set(handed) == {"letter_2", "letter_3"}
        for task, outcome in (("letter_2", "given"), ("letter_3", "sent_home")):
            t = handed[task]
            assert t.letter_id is not None
            with pytest.raises(ActionError, match="has not been approved"):
                service.complete_task(t.id, outcome, by="lead5")
            service.approve_letter(t.letter_id, by="lead5")
            service.complete_task(t.id, outcome, by="lead5")
            assert service.letter(t.letter_id).status == "sent"
            offer = service.undo.offer(SCHOOL, t.pupil, "lead5")
            assert not offer.possible and "gone to the family" in (offer.refusal or "")
        assert service.outbox.queue().letters == 0
    finally:
        store.dispose()
