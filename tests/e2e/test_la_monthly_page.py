"""The local authority's monthly notifications page (issue 16, part 5), on the pages' small world
(the sample trust run to 10 October 2025): the list, the CSV and PDF, "recorded when sent" (who
and when), and who may see and record it."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.report_ports import NOTIFICATION_SENT
from tests.e2e.web_client import csrf, login, pages
from tests.e2e.web_world import World, new_world

SCHOOL = "school-01"
PAGE = f"/schools/{SCHOOL}/la-monthly"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


def test_the_lead_sees_the_month_downloads_it_and_records_it_sent(world: World) -> None:
    with pages(world) as client:
        assert login(client, "lead") == 303
        page = client.get(f"{PAGE}?month=2025-09")
        assert page.status_code == 200
        assert "S01-P0029" in page.text and "10 school days, 2025-09-03 to 2025-09-16" in page.text
        assert "not yet" in page.text and "Not yet recorded as sent" in page.text
        data = client.get(f"/schools/{SCHOOL}/la-monthly.csv?month=2025-09").text
        assert data.splitlines()[0].startswith("school,month,as_of,pupil")
        assert "S01-P0029" in data
        pdf = client.get(f"/schools/{SCHOOL}/la-monthly.pdf?month=2025-09")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        token = csrf(client, f"{PAGE}?month=2025-09")
        posted = client.post(f"{PAGE}/sent", data={"csrf_token": token, "month": "2025-09"})
        assert posted.status_code == 303
        page = client.get(posted.headers["location"])
        assert "Recorded as sent to the local authority." in page.text
        assert "by lead" in page.text and "not yet" not in page.text
    store = Store(world.url)
    try:
        entries = StaffStore(store.engine).audit_entries(action=NOTIFICATION_SENT)
    finally:
        store.dispose()
    assert [e.actor for e in entries] == ["lead"]


def test_the_school_page_links_to_it_and_the_latest_month_is_the_default(world: World) -> None:
    with pages(world) as client:
        assert login(client, "lead") == 303
        assert PAGE in client.get(f"/schools/{SCHOOL}").text
        page = client.get(PAGE)
        assert page.status_code == 200 and "2025-10 ·" in page.text


def test_others_see_only_what_they_may_and_only_the_lead_records(world: World) -> None:
    with pages(world) as client:
        assert login(client, "teacher3") == 303  # a class teacher at school-03
        assert client.get(PAGE).status_code == 404
        assert client.get(f"/schools/{SCHOOL}/la-monthly.csv").status_code == 404
    with pages(world) as client:
        assert login(client, "teacher") == 303  # school-01, year 3 only
        page = client.get(f"{PAGE}?month=2025-09")
        assert page.status_code == 200 and "S01-P0029" not in page.text
        assert "/la-monthly/sent" not in page.text
        token = csrf(client, f"{PAGE}?month=2025-09")
        refused = client.post(f"{PAGE}/sent", data={"csrf_token": token, "month": "2025-09"})
        assert refused.status_code == 403
    with pages(world) as client:
        assert login(client, "auditor") == 303
        page = client.get(f"{PAGE}?month=2025-09")
        assert "S01-P0029" in page.text and "/la-monthly/sent" not in page.text
        token = csrf(client, f"{PAGE}?month=2025-09")
        refused = client.post(f"{PAGE}/sent", data={"csrf_token": token, "month": "2025-09"})
        assert refused.status_code == 403
