"""Undo on the case page: the person who recorded the last action sees an undo button while
nothing has followed; anyone else sees why it cannot be undone; the undo lands in the story."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_web_security import _audit, _open_task, _task_status
from tests.e2e.web_client import csrf, login, pages
from tests.e2e.web_world import World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def test_the_recorder_undoes_a_completion_from_the_case_page_and_others_are_told_why_not(
    world: World, client: TestClient
) -> None:
    task = _open_task(world, "school-01", "attendance_team", kind="meeting")
    case_url = f"/schools/school-01/pupils/{task.pupil}"
    assert login(client, "lead") == 303
    done = client.post(
        f"/tasks/{task.id}/complete", data={"csrf_token": csrf(client), "outcome": "held"}
    )
    assert done.status_code == 303 and _task_status(world, task.id) == "done"
    page = client.get(case_url).text
    assert "Undo your last action" in page and "Nothing has followed from it yet" in page

    client.post("/logout", data={"csrf_token": csrf(client)})
    assert login(client, "head") == 303
    other = client.get(case_url).text
    assert "The last action cannot be undone" in other and "only lead, who recorded it" in other
    refused = client.post(f"{case_url}/undo", data={"csrf_token": csrf(client)})
    assert refused.status_code == 403 and _task_status(world, task.id) == "done"

    client.post("/logout", data={"csrf_token": csrf(client)})
    assert login(client, "lead") == 303
    undone = client.post(f"{case_url}/undo", data={"csrf_token": csrf(client)})
    assert undone.status_code == 303 and undone.headers["location"].endswith("?undone=1")
    assert _task_status(world, task.id) == "open"
    after = client.get(case_url + "?undone=1").text
    assert "Undone. The correction is in the case" in after
    assert "Withdrawn by lead, who had recorded it" in after
    assert "already undone" in after  # the undo itself cannot be undone
    assert [e.actor for e in _audit(world, "action_undone")] == ["lead"]
