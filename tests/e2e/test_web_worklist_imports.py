"""The worklist's rows after an import: marks alone change no task, name or year group, so the
rows stand; a roster import (names, year groups) builds them again."""

from __future__ import annotations

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
        assert client.get("/tasks").text.count('class="task') == before.count('class="task')
        assert built == []
        rosters = read_roster(TRUST_DIR / "roster.csv", set(trust.schools), aliases=trust.aliases)
        store.import_roster(rosters, file=TRUST_DIR / "roster.csv", now=NOW, by="test")
        store.dispose()
        client.get("/tasks")
        assert built
