"""The register-reading helpers die with the process that started them, even after a
``kill -9`` (issue 14, item 6): left behind, three of them held about 350 MB and the daemon's
output open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STARTS_HELPERS = """
import time
from escalation_flow.adapters.store import marks_reader

if __name__ == "__main__":  # the helpers are spawned: they import this file too
    pool = marks_reader._executor()
    for future in [pool.submit(time.sleep, 0.3) for _ in range(4)]:
        future.result()
    print("ready", flush=True)
    time.sleep(600)
"""


def children(pid: int) -> set[int]:
    """Every live process descended from ``pid`` (zombies count as gone)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_helpers_die_within_seconds_when_their_parent_is_killed_with_sigkill(
    tmp_path: Path,
) -> None:
    script = tmp_path / "starts_helpers.py"
    script.write_text(STARTS_HELPERS, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, cwd=tmp_path, text=True
    )
    helpers: set[int] = set()
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        helpers = children(parent.pid)
        assert len(helpers) >= 2  # the two readers (and multiprocessing's resource tracker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(helpers) == set()
    finally:
        for pid in alive(helpers | children(parent.pid)):  # a failed test leaves none behind
            os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()


def test_a_daemons_store_starts_both_register_helpers_before_any_register_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper's start is its imports (about 1.5 CPU-s): the daemon's store starts both when
    it opens, so that its first evening or catch-up does not wait for them."""
    from sqlalchemy.engine import make_url

    from escalation_flow.adapters.store import Store, marks_reader, migrate
    from escalation_flow.daemon.startup import opened_store

    monkeypatch.setattr(marks_reader, "_helper", None)  # as in a new process
    url = f"sqlite:///{tmp_path / 'school.sqlite'}"
    migrate(url)
    store = opened_store(make_url(url), Store)
    try:
        pool = marks_reader._helper
        assert pool is not None
        assert len(pool._processes) == 2
    finally:
        store.dispose()
        if marks_reader._helper is not None:
            marks_reader._helper.shutdown(wait=True)
