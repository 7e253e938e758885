"""The worklist's own read of the store (``PageReads.work_tasks``, one query for many schools,
the roster's names joined in SQL): its rows are the service's open tasks, field for field, and
its download names the pupil of every row, a school's duty included."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.page_reads import SqlPageReads
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.web.work_rows import scope_rows
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import SCHOOLS, TODAY, World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def test_the_worklist_rows_are_the_service_s_open_tasks_field_for_field(
    world: World, client: TestClient
) -> None:
    """The trust team may record every open task, so its rows are all of them; each row's view
    (school days overdue included) is what ``Service.tasks`` gives for that task."""
    assert login(client, "trust") == 303
    web = client.app.state.web  # type: ignore[attr-defined]
    store = Store(world.url)
    try:
        trust = StaffStore(store.engine).by_username("trust")
        assert trust is not None
        rows = scope_rows(web, trust.principal(), TODAY)
    finally:
        store.dispose()
    expected = {v.id: v for v in world.service().tasks()}
    assert sorted(r.view.id for r in rows) == sorted(expected)
    assert any(v.overdue_days for v in expected.values())
    assert any(v.covers for v in expected.values())  # the world has a school's duty
    for r in rows:
        assert r.view == expected[r.view.id]


def test_the_one_read_for_many_schools_is_each_school_s_read(world: World) -> None:
    """Each task with its pupil's roster names and open case, as the school's own reads give."""
    store = Store(world.url)
    try:
        reads = SqlPageReads(store)
        tasks = reads.work_tasks(list(SCHOOLS))
        for school in SCHOOLS:
            roster = reads.roster(school)
            cases = {c.pupil: c for c in reads.open_cases(school)}
            for w in tasks[school]:
                record = roster.pupils.get(w.pupil)
                if record is not None:
                    assert (w.forename or "", w.surname or "", w.year_group or "") == (
                        record.forename, record.surname, record.year_group
                    )  # fmt: skip
                case = cases.get(w.pupil)
                found = (w.case_stage, w.case_state, w.case_version)
                assert found == (
                    (case.stage, case.state, case.flow_version) if case else (None,) * 3
                )
            assert any(w.case_state for w in tasks[school])
        assert {w.id for found in tasks.values() for w in found} == {
            v.id for v in world.service().tasks()
        }
        assert reads.work_tasks(["school-01"]).keys() == {"school-01"}
    finally:
        store.dispose()


def test_the_worklist_download_names_the_pupils_a_school_s_duty_covers(
    world: World, client: TestClient
) -> None:
    duty = next(v for v in world.service().tasks() if v.covers)
    roster = Store(world.url)
    try:
        names = roster.load_roster(duty.school).pupils
    finally:
        roster.dispose()
    assert login(client, "trust") == 303
    body = client.get(f"/tasks/export.csv?school={duty.school}").content
    rows = {r["Task id"]: r for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))}
    row = rows[str(duty.id)]
    assert row["Pupil id"] == "; ".join(duty.covers)
    assert row["Pupil"] == "; ".join(f"{names[p].forename} {names[p].surname}" for p in duty.covers)
    assert all(r["Pupil id"] and r["Pupil"] for r in rows.values())  # every row names a pupil
