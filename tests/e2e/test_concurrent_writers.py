"""A second writer beside a running SQLite daemon waits its turn or is refused with a plain
message; the daemon never dies of a lock (issue 14, item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon_processes import reap
from tests.e2e.writers_race import Race, race, sample_database


@pytest.fixture(autouse=True)
def _no_daemon_left_running() -> Iterator[None]:
    yield
    reap()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_database(tmp_path_factory.mktemp("sample"))


def assert_survived(result: Race) -> None:
    assert "Traceback" not in result.daemon_log, result.daemon_log[-3000:]
    assert result.daemon_code == 0, result.daemon_log[-3000:]
    for code, out in result.by_hand:
        assert "Traceback" not in out, out[-3000:]
        assert code == 0 or (code == 4 and "the database is busy" in out), out[-3000:]


@pytest.mark.slow
def test_run_day_beside_a_running_sqlite_daemon_neither_kills_it_nor_fails_with_a_traceback(
    template: Path, tmp_path: Path
) -> None:
    result = race(template, tmp_path / "race")
    assert_survived(result)
    assert "day.evaluated" in result.daemon_log
    assert any(code == 0 for code, _ in result.by_hand)
