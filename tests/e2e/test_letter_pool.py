"""Letters are rendered after the day's commit, in a pool of processes (issue 13): a ``kill -9``
while the pool renders leaves the day committed and its letters "to render", kills the pool's
processes with it, and the next start renders them, each PDF chained (issue 14)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.audit.store_check import verify_store
from tests.daemon_builders import DAYS, SCHOOL, built_state, clone, day_marks, local, write_trust
from tests.e2e.test_helper_processes import alive, children

NEXT_DAY = DAYS[-1] + timedelta(days=3)  # Monday 15 September


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from built_state("sqlite", tmp_path_factory.mktemp("letter-pool"))


@pytest.fixture
def world(template: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    for url in clone(template, tmp_path):
        trust_path = write_trust(tmp_path / "trust")
        store = Store(url)
        try:  # the next school day's register, so that run-day has a day to commit
            path = day_marks(tmp_path, NEXT_DAY)
            marks = read_marks(path, load_trust(trust_path).calendars())
            store.import_marks(marks, file=path, now=local(NEXT_DAY, 16), by="t")
        finally:
            store.dispose()
        env = os.environ | {
            "ESCALATION_FLOW_DATABASE_URL": url,
            "ESCALATION_FLOW_TRUST_FILE": str(trust_path),
            "ESCALATION_FLOW_LOG_FORMAT": "json",
            "ESCALATION_FLOW_LETTER_WORKERS": "2",  # a pool even for a few letters
        }
        yield url, env


def letters(url: str) -> list[tuple[int, bool]]:
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        rows = conn.execute("SELECT id, pdf IS NOT NULL FROM letters ORDER BY id").fetchall()
    return [(int(i), bool(has)) for i, has in rows]


def evaluated(url: str, day: str) -> bool:
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        found = conn.execute("SELECT 1 FROM school_days WHERE day = ?", (day,)).fetchone()
    return found is not None


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "escalation_flow", *args]


def test_kill_9_while_the_pool_renders_leaves_letters_to_render_that_the_next_start_renders(
    world: tuple[str, dict[str, str]],
) -> None:
    url, env = world
    assert letters(url) and not any(has for _, has in letters(url))
    day = NEXT_DAY.isoformat()
    proc = subprocess.Popen(
        command("run-day", "--date", day), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        pool: set[int] = set()
        while not pool and proc.poll() is None and time.monotonic() < deadline:
            pool = children(proc.pid)  # the pool starts only once the day is committed
            time.sleep(0.005)
        assert pool, "run-day ended before its pool of letter processes was seen"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while alive(pool) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pool), "the pool's processes outlived the killed run-day"
    assert evaluated(url, day)  # the day was committed before any letter was rendered
    assert not all(has for _, has in letters(url))  # ... and its letters are still to render
    # the next start (here a run-day of the same day: nothing to evaluate) renders them
    again = subprocess.run(
        command("run-day", "--date", day), env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr
    assert "already evaluated" in again.stdout and "letter PDFs rendered" in again.stdout
    assert all(has for _, has in letters(url))
    store = Store(url)
    try:
        report = verify_store(store.engine)
    finally:
        store.dispose()
    assert report.ok, report.breaches
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        rendered = conn.execute(
            "SELECT count(*) FROM chain_records WHERE kind = 'letter_rendered'"
        ).fetchone()[0]
    assert rendered == len(letters(url))


def test_the_letters_left_to_render_are_rendered_by_letters_render_in_the_pool(
    world: tuple[str, dict[str, str]],
) -> None:
    url, env = world
    done = subprocess.run(
        command("letters", "render"), env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(letters(url))} letter PDFs rendered" in done.stdout
    assert '"processes": 2' in done.stderr or '"processes":2' in done.stderr
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        pdfs = [bytes(r[0]) for r in conn.execute("SELECT pdf FROM letters")]
    assert pdfs and all(p.startswith(b"%PDF") for p in pdfs)
    shown = subprocess.run(
        command("letters", "show", "1"), env=env, capture_output=True, text=True, check=False
    )
    assert "being prepared" not in shown.stdout
    assert SCHOOL in shown.stdout


def test_the_daemon_renders_the_letters_left_to_render_when_it_starts(
    world: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """A crash after a day's commit left letters to render: the daemon's start renders them."""
    from click.testing import CliRunner

    from escalation_flow.bootstrap import Root
    from escalation_flow.cli import main
    from escalation_flow.clock import SimulatedClock

    url, env = world
    env = env | {"ESCALATION_FLOW_LETTER_WORKERS": "0", "ESCALATION_FLOW_INBOX_DIR": str(tmp_path)}
    root = Root(SimulatedClock(local(NEXT_DAY, 12)))  # before the day's registers close
    result = CliRunner().invoke(
        main, ["daemon", "--once", "--catch-up-days", "0"], env=env, obj=root
    )
    assert result.exit_code == 0, result.output
    assert f'"letters_rendered": {len(letters(url))}' in result.stderr
    assert all(has for _, has in letters(url))


def test_a_daemon_that_serves_renders_the_letters_beside_its_schedule_not_in_its_reconcile(
    world: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """After a downtime the catch-up's letters are rendered by the pool after the commits,
    while the daemon goes on to its schedule; --once (above) renders them before it returns."""
    from escalation_flow.bootstrap import Root
    from escalation_flow.clock import SimulatedClock
    from escalation_flow.daemon import DaemonOptions
    from escalation_flow.settings import Settings

    url, env = world
    settings = Settings(
        database_url=url,
        trust_file=Path(env["ESCALATION_FLOW_TRUST_FILE"]),
        inbox_dir=tmp_path / "inbox",
        letter_workers=0,
    )
    options = DaemonOptions(catch_up_days=0, inbox=False, worker="t")
    daemon = Root(SimulatedClock(local(NEXT_DAY, 12))).daemon(settings, options)
    daemon.open()
    try:
        done = daemon.reconcile()
        assert done.letters == 0  # none rendered in the reconcile ...
        letters_thread = daemon.worker.letters
        assert letters_thread is not None
        assert letters_thread.wait(timeout=120)  # ... but beside it, after it returned
        assert letters_thread.rendered == len(letters(url))
    finally:
        daemon.close()
    assert all(has for _, has in letters(url))


def test_letters_left_when_rendering_is_told_to_stop_stay_to_render(
    world: tuple[str, dict[str, str]],
) -> None:
    """A daemon stopping leaves the letters not started "to render" (its next start renders
    them); those rendered are kept and chained."""
    url, env = world
    trust = load_trust(Path(env["ESCALATION_FLOW_TRUST_FILE"]))
    store = Store(url)
    try:
        from escalation_flow.clock import SimulatedClock
        from escalation_flow.service import Service

        service = Service(store, trust, SimulatedClock(local(NEXT_DAY, 12)), worker="t")
        asked: list[int] = []

        def stop_after_one() -> bool:
            asked.append(1)
            return len(asked) > 1

        total = len(letters(url))
        assert total > 1
        assert service.render_letters(workers=0, stop=stop_after_one) == 1
        assert sum(has for _, has in letters(url)) == 1
        assert service.render_letters(workers=0) == total - 1
        assert verify_store(store.engine).ok
    finally:
        store.dispose()
    assert all(has for _, has in letters(url))
