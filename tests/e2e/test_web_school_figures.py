"""The dashboards' headline figures kept by the evening (``school_figures``): the trust table
read from them is the table counted from every school's register, the morning after included;
figures kept under another import or flow version are never shown."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.bootstrap import page_backend
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service
from escalation_flow.web import create_app, pages_dashboards
from escalation_flow.web.settings import WebSettings
from tests.e2e.web_client import login
from tests.e2e.web_world import NOW, SCHOOLS, TODAY, World, new_world

MONDAY = date(2025, 10, 13)  # the school day after TODAY
TUESDAY = date(2025, 10, 14)
#: after the sample's last mark: every mark the world imported is known (none recorded later)
LATER = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The world with MONDAY's evening run at school-01 and school-03 once every mark is known."""
    world = new_world(tmp_path)
    service = later_service(world)
    for school in SCHOOLS:
        service.run_day(school, MONDAY)
    service.store.dispose()
    return world


def later_service(world: World, clock: datetime = LATER) -> Service:
    return Service(Store(world.url), world.trust(), SimulatedClock(clock), worker="test")


@contextmanager
def trust_team(world: World, today: date = MONDAY, now: datetime = LATER) -> Iterator[TestClient]:
    """The trust team logged in on a new application (nothing cached) on ``today``."""
    service = later_service(world, now)
    app = create_app(lambda: page_backend(service), WebSettings(today=today))
    try:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            assert login(client, "trust") == 303
            yield client
    finally:
        service.store.dispose()


def _table(page: str) -> str:
    found = re.search(r'<table class="cards trust">.*?</table>', page, re.S)
    assert found is not None
    return found.group(0)


def _registers_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = pages_dashboards.register_of

    def spy(web: object, school: str, day: date) -> object:
        read.append(school)
        return real(web, school, day)  # type: ignore[arg-type]

    monkeypatch.setattr(pages_dashboards, "register_of", spy)
    return read


def _forget_figures(world: World) -> None:
    store = Store(world.url)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM school_figures"))
    store.dispose()


@pytest.mark.parametrize("today", [MONDAY, TUESDAY], ids=["that-evening", "next-morning"])
def test_the_trust_table_from_the_evenings_figures_is_the_table_counted_from_the_registers(
    world: World, monkeypatch: pytest.MonkeyPatch, today: date
) -> None:
    read = _registers_read(monkeypatch)
    with trust_team(world, today) as client:
        kept = _table(client.get("/trust").text)
    # the schools the world's evenings ran read no register: their figures were kept
    assert not set(SCHOOLS) & set(read) and read
    _forget_figures(world)
    read.clear()
    with trust_team(world, today) as client:
        counted = _table(client.get("/trust").text)
    assert set(SCHOOLS) <= set(read)
    assert kept == counted
    assert "%" in counted and "No data" not in counted


def test_figures_the_page_counted_are_kept_for_the_next_reader(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forget_figures(world)
    with trust_team(world) as client:
        first = _table(client.get("/trust").text)
    read = _registers_read(monkeypatch)
    with trust_team(world) as client:
        again = _table(client.get("/trust").text)
    assert read == [] and again == first


def _keep_false_figures(world: World) -> None:
    """Every kept row says 4242 pupils are persistently absent (under the key it was kept)."""
    store = Store(world.url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE school_figures SET persistent = 4242"))
    store.dispose()


def test_figures_kept_before_a_later_import_are_never_shown(world: World, tmp_path: Path) -> None:
    _keep_false_figures(world)
    with trust_team(world) as client:
        assert "4242" in client.get("/trust").text  # read from the kept rows
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
        assert "4242" not in client.get("/trust").text


def test_figures_kept_for_another_flow_version_are_never_shown(world: World) -> None:
    _keep_false_figures(world)
    store = Store(world.url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE school_figures SET flow_version = 'an-earlier-version'"))
    store.dispose()
    with trust_team(world) as client:
        assert "4242" not in client.get("/trust").text


def test_the_evening_keeps_the_day_and_the_next_school_day_only(world: World) -> None:
    service = later_service(world)
    setup = service.setup(SCHOOLS[0])
    stamp = service.figures.import_stamp()

    def kept(day: date) -> bool:
        key = service.figures.key(setup, setup.calendar.day_index(day), stamp)
        return bool(service.figures.kept({SCHOOLS[0]: key}))

    assert kept(MONDAY) and kept(TUESDAY)
    assert not kept(date(2025, 10, 15))
    service.store.dispose()


def test_nothing_is_kept_from_a_register_read_before_marks_the_store_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The world's evenings ran on a simulated clock over a term imported at once: read later,
    the same import gives another register, so neither the evenings nor the page keep figures."""
    world = new_world(tmp_path)
    _forget_figures(world)
    service = later_service(world, NOW + timedelta(days=3))
    service.run_day(SCHOOLS[0], MONDAY)
    service.store.dispose()
    with trust_team(world, MONDAY, NOW + timedelta(days=3)) as client:
        client.get("/trust")
    store = Store(world.url)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM school_figures")).scalar() == 0
    store.dispose()
