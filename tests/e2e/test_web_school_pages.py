"""The school dashboard from what the evening kept (``school_pages``, migration 0021): the page
read from the kept row is the page counted from the school's register, that evening and the next
morning; a page kept under another import or flow version is never shown; a page counted from
the register is kept for the next reader; a class teacher's page is always the register's."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.core.school_weeks import school_weeks
from escalation_flow.service.register import RegisterAsKnown
from escalation_flow.web.trends import trends
from tests.e2e.test_web_school_figures import (
    LATER,
    MONDAY,
    TUESDAY,
    _registers_read,
    later_service,
    trust_team,
)
from tests.e2e.web_client import login
from tests.e2e.web_world import SCHOOLS, TODAY, World, new_world

SCHOOL = SCHOOLS[0]


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The world with MONDAY's evening run at school-01 and school-03 once every mark is known."""
    world = new_world(tmp_path)
    service = later_service(world)
    for school in SCHOOLS:
        service.run_day(school, MONDAY)
    service.store.dispose()
    return world


def _main(page: str) -> str:
    """The page's content, without the forms' one-time tokens (a new application's differ)."""
    found = re.search(r"<main.*?</main>", page, re.S)
    assert found is not None
    return re.sub(r'name="(csrf_token|login_token)" value="[^"]*"', "", found.group(0))


def _forget_pages(world: World) -> None:
    store = Store(world.url)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM school_pages"))
    store.dispose()


def _pages_kept(world: World) -> int:
    store = Store(world.url)
    with store.engine.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM school_pages")).scalar()
    store.dispose()
    return int(found or 0)


@pytest.mark.parametrize("today", [MONDAY, TUESDAY], ids=["that-evening", "next-morning"])
def test_the_school_page_from_the_evening_is_the_page_counted_from_the_register(
    world: World, monkeypatch: pytest.MonkeyPatch, today: date
) -> None:
    read = _registers_read(monkeypatch)
    with trust_team(world, today) as client:
        kept = _main(client.get(f"/schools/{SCHOOL}").text)
        kept_page_two = _main(client.get(f"/schools/{SCHOOL}?page=2").text)
    assert read == []  # the evening kept the page: no register was read
    _forget_pages(world)
    with trust_team(world, today) as client:
        counted = _main(client.get(f"/schools/{SCHOOL}").text)
        counted_page_two = _main(client.get(f"/schools/{SCHOOL}?page=2").text)
    assert set(read) == {SCHOOL}
    assert kept == counted and kept_page_two == counted_page_two
    assert "attendance" in counted and "<svg" in counted


def test_a_page_counted_from_the_register_is_kept_for_the_next_reader(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forget_pages(world)
    with trust_team(world) as client:
        first = _main(client.get(f"/schools/{SCHOOL}").text)
    assert _pages_kept(world) == 1
    read = _registers_read(monkeypatch)
    with trust_team(world) as client:
        again = _main(client.get(f"/schools/{SCHOOL}").text)
    assert read == [] and again == first


def _keep_a_false_page(world: World) -> None:
    """Every kept page says the first pupil has 4242 unmarked sessions."""
    store = Store(world.url)
    with store.engine.begin() as conn:
        rows = conn.execute(text("SELECT school_id, day, body FROM school_pages")).all()
        for school_id, day, body in rows:
            false = re.sub(r'"unmarked_sessions":\[[^,\]]*', '"unmarked_sessions":[4242', body)
            conn.execute(
                text("UPDATE school_pages SET body = :b WHERE school_id = :s AND day = :d"),
                {"b": false, "s": school_id, "d": day},
            )
    store.dispose()


def test_a_page_kept_before_a_later_import_or_for_another_flow_is_never_shown(
    world: World, tmp_path: Path
) -> None:
    _keep_a_false_page(world)
    with trust_team(world) as client:
        assert "4242 unmarked" in client.get(f"/schools/{SCHOOL}").text  # the kept row
    store = Store(world.url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE school_pages SET flow_version = 'an-earlier-version'"))
    store.dispose()
    with trust_team(world) as client:
        assert "4242 unmarked" not in client.get(f"/schools/{SCHOOL}").text
    _keep_a_false_page(world)  # kept again by that page, under its key: made false again
    marks = tmp_path / "late.csv"
    marks.write_text(
        "school,pupil,date,session,code,minutes_late,recorded_at\n"
        f"school-01,S01-P0001,{TODAY},PM,/,,{TODAY}T13:30:00+01:00\n",
        encoding="utf-8",
    )
    store = Store(world.url)
    trust = world.trust()
    store.import_marks(read_marks(marks, trust.calendars(), aliases=trust.aliases),
                       file=marks, now=LATER, by="test")  # fmt: skip
    store.dispose()
    with trust_team(world) as client:
        assert "4242 unmarked" not in client.get(f"/schools/{SCHOOL}").text


def test_the_kept_weeks_are_the_trends_weeks(world: World) -> None:
    """``core.school_weeks`` (kept by the evening) counts what ``web.trends`` draws."""
    service = later_service(world)
    try:
        for school in SCHOOLS:
            setup = service.setup(school)
            index = setup.calendar.day_index(MONDAY)
            grid = RegisterAsKnown.load(service.store, setup, LATER, index).grid
            minimum = setup.flow.definition.min_possible_sessions
            this, last = school_weeks(grid, setup.calendar, index, minimum)
            drawn = trends(grid, setup.calendar, index, [], minimum)
            assert this.year == drawn.this_year.year
            assert _same(this.attendance_pct, drawn.this_year.attendance_pct)
            assert _same(this.persistent_pct, drawn.this_year.persistent_pct)
            assert any(v == v for v in this.attendance_pct)  # not all "no data"
            assert (last is None) == (drawn.last_year is None)
            if last is not None and drawn.last_year is not None:
                assert _same(last.attendance_pct, drawn.last_year.attendance_pct)
                assert _same(last.persistent_pct, drawn.last_year.persistent_pct)
    finally:
        service.store.dispose()


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(
        x == y or (x != x and y != y) for x, y in zip(a, b, strict=True)
    )


def test_a_class_teacher_s_page_is_counted_from_the_register(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _registers_read(monkeypatch)
    with trust_team(world) as client:
        client.cookies.clear()
        assert login(client, "teacher") == 303
        assert client.get(f"/schools/{SCHOOL}").status_code == 200
    assert set(read) == {SCHOOL}
