"""The staff pages for real work, through the application (Starlette's TestClient): the worklist
across schools with filters, sort and pages in the query string; pupil search; exports to CSV
and Excel that hold only what the viewer may see and are audited; bulk complete and approve
behind a confirmation that names the count."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from tests.e2e.web_client import login, pages, token
from tests.e2e.web_world import World, new_world

_COUNT = re.compile(r'id="match-count">([^<]*)<')
_CARD = re.compile(r'<article class="card task" id="task-(\d+)"')


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def _as(client: TestClient, username: str) -> TestClient:
    client.cookies.clear()
    assert login(client, username) == 303
    return client


def _count(html: str) -> str:
    found = _COUNT.search(html)
    assert found, "no count on the page"
    return found.group(1)


def _open_tasks(world: World) -> list[object]:
    return list(world.service().tasks())


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_trust_team_works_every_open_task_the_command_line_counts(
    world: World, client: TestClient
) -> None:
    everything = world.service().tasks()
    html = _as(client, "trust").get("/tasks?size=200").text
    assert _count(html) == f"Showing 1–{len(everything)} of {len(everything)} tasks."
    assert {int(i) for i in _CARD.findall(html)} == {v.id for v in everything}


def test_a_school_lead_works_their_schools_tasks_and_no_other_schools(
    world: World, client: TestClient
) -> None:
    school_01 = {v.id for v in world.service().tasks(school="school-01")}
    html = _as(client, "lead").get("/tasks?size=200").text
    assert {int(i) for i in _CARD.findall(html)} == school_01


def test_filters_sort_and_pages_come_from_the_query_string(
    world: World, client: TestClient
) -> None:
    views = world.service().tasks(school="school-03")
    overdue = sorted(v.id for v in views if v.overdue_days > 0)
    _as(client, "trust")
    html = client.get("/tasks?school=school-03&overdue=1&size=200").text
    assert sorted(int(i) for i in _CARD.findall(html)) == overdue
    # pages of 25 cover the selection once each, in the same order as one long page
    whole = _CARD.findall(client.get("/tasks?sort=pupil&size=200").text)
    paged: list[str] = []
    for page in (1, 2, 3):
        part = client.get(f"/tasks?sort=pupil&size=25&page={page}").text
        paged += _CARD.findall(part)
    assert paged == whole
    assert "Showing 51–" in client.get("/tasks?sort=pupil&size=25&page=3").text


def test_sorting_by_pupil_orders_the_cards_by_surname(client: TestClient) -> None:
    html = _as(client, "trust").get("/tasks?sort=pupil&size=200").text
    names = re.findall(r'class="for">for <a href="[^"]+">([^<]+)</a>', html)
    surnames = [n.split()[-1].lower() for n in names]
    assert surnames == sorted(surnames)
    back = _as(client, "trust").get("/tasks?sort=pupil&dir=desc&size=200").text
    names_back = re.findall(r'class="for">for <a href="[^"]+">([^<]+)</a>', back)
    assert [n.split()[-1].lower() for n in names_back] == sorted(surnames, reverse=True)


def test_two_letters_find_a_pupil_by_surname_forename_or_id(client: TestClient) -> None:
    _as(client, "trust")
    assert "Jackson" in client.get("/search?q=ja").text  # surname
    assert "Jacob Carter" in client.get("/search?q=JA").text  # forename, any case
    assert "S03-P0036" in client.get("/search?q=s03-p003").text  # id


def test_search_shows_only_pupils_the_viewer_may_read(client: TestClient) -> None:
    html = _as(client, "teacher").get("/search?q=s0").text  # every pupil id starts "S0"
    years = set(re.findall(r"· Year (\w+)", html))
    schools = set(re.findall(r"(S\d\d)-P\d+", html))
    assert years == {"3"} and schools == {"S01"}


def test_the_worklist_downloads_as_csv_and_excel_with_what_the_page_selects(
    world: World, client: TestClient
) -> None:
    views = world.service().tasks(school="school-03")
    _as(client, "trust")
    response = client.get("/tasks/export.csv?school=school-03")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = _rows(response.content)
    assert sorted(int(r["Task id"]) for r in rows) == sorted(v.id for v in views)
    book = load_workbook(io.BytesIO(client.get("/tasks/export.xlsx?school=school-03").content))
    sheet = book.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Task id" and len(values) == len(views) + 1
    assert sorted(int(str(v[0])) for v in values[1:]) == sorted(v.id for v in views)


def test_exports_hold_only_what_the_viewer_may_see(client: TestClient) -> None:
    _as(client, "teacher")  # a class teacher of Year 3 at school-01
    rows = _rows(client.get("/schools/school-01/export.csv").content)
    assert rows and {r["Year group"] for r in rows} == {"3"}
    assert client.get("/schools/school-03/export.csv").status_code == 404
    assert client.get("/trust/export.xlsx").status_code == 404


def test_each_export_is_recorded_in_the_staff_audit_log(world: World, client: TestClient) -> None:
    _as(client, "trust")
    client.get("/tasks/export.xlsx?overdue=1")
    client.get("/trust/export.csv")
    store = Store(world.url)
    try:
        entries = StaffStore(store.engine).audit_entries(action="exported")
    finally:
        store.dispose()
    details = [e.detail or "" for e in entries]
    assert any(d.startswith("worklist as xlsx") and "overdue=1" in d for d in details)
    assert any(d.startswith("trust overview as csv") for d in details)
    assert {e.actor for e in entries} == {"trust"}


def test_bulk_approve_names_the_count_and_approves_exactly_that_selection(
    world: World, client: TestClient
) -> None:
    waiting = [
        v
        for v in world.service().tasks(school="school-01")
        if v.letter_status == "prepared" and v.approval
    ]
    assert waiting
    _as(client, "lead")
    page = client.get("/tasks/bulk?action=approve&school=school-01")
    assert f"Approve the letters of {len(waiting)} tasks?" in page.text
    form = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
    form["csrf_token"] = token(page.text)
    done = client.post("/tasks/bulk", data=form)
    assert done.status_code == 303 and f"done={len(waiting)}" in done.headers["location"]
    after = {v.id: v for v in world.service().tasks(school="school-01")}
    assert all(after[v.id].letter_status == "approved" for v in waiting)


def test_a_bulk_action_on_a_selection_that_changed_records_nothing(
    world: World, client: TestClient
) -> None:
    _as(client, "lead")
    page = client.get("/tasks/bulk?action=complete&kind=call")
    form = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
    form["csrf_token"] = token(page.text)
    form["digest"] = "0" * 64  # as if a colleague had recorded one since
    before = {v.id for v in world.service().tasks()}
    response = client.post("/tasks/bulk", data=form)
    assert response.status_code == 200 and "selection changed" in response.text
    assert {v.id for v in world.service().tasks()} == before


def test_a_bulk_selection_never_reaches_beyond_the_viewers_schools(
    world: World, client: TestClient
) -> None:
    assert any(v.letter_status == "prepared" for v in world.service().tasks(school="school-03"))
    _as(client, "lead")  # school-01's attendance lead
    page = client.get("/tasks/bulk?action=approve&school=school-03")
    assert "Your filters select 0 tasks" in page.text and 'name="digest"' not in page.text


def test_the_worklist_shows_a_completion_and_an_approval_on_the_next_page(
    world: World, client: TestClient
) -> None:
    """The rows are cached; a change at a school makes the next page read that school again."""
    _as(client, "lead")
    first = client.get("/tasks?size=200").text  # builds (and caches) the rows
    call = next(v for v in world.service().tasks(school="school-01") if v.kind == "call")
    letter = next(
        v for v in world.service().tasks(school="school-01") if v.letter_status == "prepared"
    )
    assert f'id="task-{call.id}"' in first
    form = {"csrf_token": token(first), "outcome": "contact_made"}
    assert client.post(f"/tasks/{call.id}/complete", data=form).status_code == 303
    after = client.get("/tasks?size=200").text
    assert f'id="task-{call.id}"' not in after
    approve = {"csrf_token": token(after)}
    assert client.post(f"/letters/{letter.letter_id}/approve", data=approve).status_code == 303
    card = client.get("/tasks?size=200").text.split(f'id="task-{letter.id}"')[1]
    assert "Letter approved: print or send it" in card.split("</article>")[0]
