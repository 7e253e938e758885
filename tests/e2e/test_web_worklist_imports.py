"""The worklist's rows after an import: marks alone change no task, name or year group, so the
rows stand; a roster import (names, year groups) builds them again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.web import work_rows
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import NOW, TODAY, TRUST_DIR, World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


def _matched(html: str) -> int:
    """How many tasks the worklist says match (0 when it says none do)."""
    found = re.search(r'id="match-count">Showing [^<]* of (\d+) task', html)
    return int(found.group(1)) if found else 0


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    real = work_rows._read_bases

    def spy(web: work_rows.WebApp, schools: list[str]) -> dict[str, list[work_rows._Base]]:
        built.extend(schools)
        return real(web, schools)

    monkeypatch.setattr(work_rows, "_read_bases", spy)
    return built


def test_an_import_of_marks_alone_builds_no_school_s_rows_again(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _builds(monkeypatch)
    marks = tmp_path / "late.csv"
    marks.write_text(
        "school,pupil,date,session,code,minutes_late,recorded_at\n"
        f"school-01,S01-P0001,{TODAY},PM,/,,{TODAY}T13:30:00+01:00\n",
        encoding="utf-8",
    )
    trust = world.trust()
    with pages(world) as client:
        assert login(client, "trust") == 303
        before = client.get("/tasks").text
        assert built
        built.clear()
        store = Store(world.url)
        store.import_marks(read_marks(marks, trust.calendars(), aliases=trust.aliases),
                           file=marks, now=NOW, by="test")  # fmt: skip
        assert _matched(client.get("/tasks").text) == _matched(before) > 0
        assert built == []
        rosters = read_roster(TRUST_DIR / "roster.csv", set(trust.schools), aliases=trust.aliases)
        store.import_roster(rosters, file=TRUST_DIR / "roster.csv", now=NOW, by="test")
        store.dispose()
        client.get("/tasks")
        assert built


def test_a_server_warmed_up_at_its_start_serves_the_first_worklist_without_reading_the_rows(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from escalation_flow.web.warm_up import warm_up

    built = _builds(monkeypatch)
    with pages(world) as client:
        web = client.app.state.web  # type: ignore[attr-defined]
        assert warm_up(web) > 0
        assert sorted(built) == sorted(world.trust().schools)  # every school, in one read
        built.clear()
        assert login(client, "trust") == 303
        assert _matched(client.get("/tasks").text) > 0
        assert built == []


def test_a_warm_up_over_a_store_that_cannot_be_read_is_logged_and_the_server_still_starts(
    world: World,
) -> None:
    from escalation_flow.web.warm_up import warm_up

    class Broken:
        @property
        def service(self) -> object:
            raise RuntimeError("database is not reachable")

    assert warm_up(Broken()) == 0.0  # type: ignore[arg-type]
