"""The statutory task to tell a child's social worker of unexplained absence, made by the
service's evening on every store (memory, SQLite, PostgreSQL) from the contacts the store keeps
(the facts across a family the service gives: ``test_family_evenings``)."""

from __future__ import annotations

from datetime import date

import pytest

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.errors import ActionError
from tests.daemon_builders import ROOT, SCHOOL, local

from .conftest import World

HEADER = "school,pupil,contact,name,relationship,parental_responsibility,recorded_at"


def import_contacts(world: World, lines: list[str]) -> None:
    path = world.folder / "contacts.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    result = read_contacts(path, set(world.trust.schools), now=world.clock.now())
    world.store.import_contacts(result, now=world.clock.now(), by="test")


def evening(world: World, day: date, morning: dict[str, str]) -> None:
    world.import_register(day, morning)
    world.clock.set(local(day, 18))
    world.service.run_day(SCHOOL, day)


def notified(world: World) -> list[tuple[str, date, str]]:
    return sorted(
        (t.pupil, t.created_on, t.role)
        for t in world.service.tasks(SCHOOL)
        if t.task == "notify_social_worker"
    )


def test_the_social_worker_is_told_once_per_run_of_unexplained_absence(world: World) -> None:
    world.clock.set(local(date(2025, 9, 13), 10))
    import_contacts(
        world,
        [
            f"{SCHOOL},P3,SW-1,Sam Smith,social worker,no,2025-09-13T09:00:00+01:00",
            f"{SCHOOL},P4,C-4,Ann Jones,mother,yes,2025-09-13T09:00:00+01:00",
        ],
    )
    evening(world, date(2025, 9, 15), {"P3": "N", "P4": "N"})
    evening(world, date(2025, 9, 16), {"P3": "N", "P4": "N"})  # the same run: no second task
    evening(world, date(2025, 9, 17), {})
    evening(world, date(2025, 9, 18), {"P3": "N"})  # a new run
    assert notified(world) == [
        ("P3", date(2025, 9, 15), "designated_safeguarding_lead"),
        ("P3", date(2025, 9, 18), "designated_safeguarding_lead"),
    ]
    tasks = [t for t in world.service.tasks(SCHOOL) if t.task == "notify_social_worker"]
    assert {t.kind for t in tasks} == {"call"}
    with pytest.raises(ActionError, match="notified, not_reached"):
        world.service.complete_task(tasks[0].id, "done", "s.one")
    world.service.complete_task(tasks[0].id, "notified", "s.one")
    assert [t.id for t in world.service.tasks(SCHOOL) if t.task == "notify_social_worker"] == [
        tasks[1].id
    ]


def test_a_social_worker_recorded_during_a_run_is_told_the_next_day_once(world: World) -> None:
    world.clock.set(local(date(2025, 9, 15), 10))
    import_contacts(
        world, [f"{SCHOOL},P3,SW-1,Sam Smith,social_worker,no,2025-09-15T10:00:00+01:00"]
    )
    evening(world, date(2025, 9, 15), {"P3": "N"})
    assert notified(world) == []
    # the run goes on and the worker is known now: told on the run's first day known
    evening(world, date(2025, 9, 16), {"P3": "N"})
    evening(world, date(2025, 9, 17), {"P3": "N"})
    assert [d for _, d, _ in notified(world)] == [date(2025, 9, 16)]


def test_the_worklist_offers_the_statutory_tasks_own_outcomes_whatever_the_flow() -> None:
    from escalation_flow.adapters.flow_files import load_flow
    from escalation_flow.web.plan_words import task_definition

    for path in sorted((ROOT / "flows").glob("*.yaml")):
        found = task_definition(load_flow(path), "notify_social_worker")
        assert found is not None and found.outcomes == ("notified", "not_reached")
        assert found.role.value == "designated_safeguarding_lead"
