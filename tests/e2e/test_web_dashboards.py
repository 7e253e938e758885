"""The dashboards: the school page's trends (this year against last, "no data" said), its pupil
list in pages, and the trust table sorted by any column."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from escalation_flow.web import pages_dashboards
from escalation_flow.web.pages_dashboards import PupilLink, StageRow, page_stages
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import World, new_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return new_world(tmp_path_factory.mktemp("dashboards"))


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def test_the_school_page_draws_three_trends_and_says_when_last_year_has_no_data(
    client: TestClient,
) -> None:
    assert login(client, "lead") == 303
    page = client.get("/schools/school-01").text
    assert "Week by week: this year against last" in page
    for title in ("Attendance each school week", "Persistently absent", "Open cases by stage"):
        assert title in page
    assert page.count('class="chart trend"') == 6  # each drawn for a desktop and a phone
    assert "last year: no data (the calendar starts this year)" in page


def test_the_school_page_lists_its_pupils_in_pages(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_dashboards, "PAGE_SIZE", 5)
    assert login(client, "lead") == 303
    first = client.get("/schools/school-01").text
    total = int(re.search(r"Pupils 1 to 5 of (\d+)", first).group(1))  # type: ignore[union-attr]
    assert total > 5 and first.count('<ul class="pupils">') >= 1
    listed = re.findall(r'<a href="/schools/school-01/pupils/([^"]+)">', first)
    last_page = (total + 4) // 5
    last = client.get(f"/schools/school-01?page={last_page}").text
    assert f"page {last_page} of {last_page}" in last and "Next page" not in last
    later = re.findall(r'<a href="/schools/school-01/pupils/([^"]+)">', last)
    assert not set(listed[:5]) & set(later[:5])
    beyond = client.get("/schools/school-01?page=999").text  # clamped to the last
    assert f"page {last_page} of {last_page}" in beyond


def test_paging_keeps_each_stage_s_total_and_the_order() -> None:
    rows = [
        StageRow(3, "three", [PupilLink(f"a{i}", "", "", "", "") for i in range(3)]),
        StageRow(2, "two", [PupilLink(f"b{i}", "", "", "", "") for i in range(4)]),
    ]
    pager = page_stages(rows, 2, size=4)
    assert (pager.page, pager.pages, pager.shown_from, pager.shown_to) == (2, 2, 5, 7)
    assert [r.total for r in rows] == [3, 4]
    assert [p.pupil for r in rows for p in r.pupils] == ["b1", "b2", "b3"]


def test_the_trust_table_sorts_by_any_column_and_back(client: TestClient) -> None:
    assert login(client, "trust") == 303

    def schools(url: str) -> list[str]:
        return re.findall(r'<a href="/schools/([^"]+)"><strong>', client.get(url).text)

    by_name = schools("/trust")
    names = re.findall(r"<strong>([^<]+)</strong></a><br>", client.get("/trust").text)
    assert len(names) > 1 and names == sorted(names, key=str.casefold)
    overdue_down = client.get("/trust?sort=overdue&dir=desc").text
    cells = [int(v) for v in re.findall(r'data-label="Overdue tasks">(\d+)<', overdue_down)]
    assert cells == sorted(cells, reverse=True) and len(cells) > 1
    assert 'aria-sort="descending"' in overdue_down
    assert "/trust?sort=overdue&amp;dir=asc" in overdue_down  # the heading reverses it
    up = schools("/trust?sort=overdue&dir=asc")
    assert up != schools("/trust?sort=overdue&dir=desc") or len(set(cells)) == 1
    assert schools("/trust?sort=nonsense") == by_name  # an unknown column: by name


def test_the_trends_count_no_safeguarding_stage_for_staff_who_may_not_see_it(
    client: TestClient,
) -> None:
    """School 03 has a pupil in its child-protection stage: the trust team sees that stage's
    line; the school's attendance lead (not its safeguarding lead) does not."""
    assert login(client, "trust") == 303
    trends = client.get("/schools/school-03").text.split('id="stages-h"')[0]
    assert "Stage 5: Child Protection" in trends
    assert login(client, "lead3") == 303
    trends = client.get("/schools/school-03").text.split('id="stages-h"')[0]
    assert "Week by week" in trends and "Child Protection" not in trends
