"""Running ``escalation-flow daemon`` as a real process against a test database, and reading
back what it fired."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from escalation_flow.adapters.store.cases import history
from escalation_flow.core.chain import broken_links

#: A daemon that has not finished a burst in this long is broken.
PATIENCE = 90.0
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass
class DaemonProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def wait(self, timeout: float = PATIENCE) -> int:
        return self.process.wait(timeout=timeout)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def environment(url: str, trust: Path, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_FLOW_")}
    env.update(
        ESCALATION_FLOW_DATABASE_URL=url,
        ESCALATION_FLOW_TRUST_FILE=str(trust),
        ESCALATION_FLOW_INBOX_DIR=str(folder / "inbox"),
        ESCALATION_FLOW_LOG_FORMAT="json",
    )
    return env


def start(env: dict[str, str], folder: Path, *args: str, name: str = "daemon") -> DaemonProcess:
    """``escalation-flow daemon ARGS`` in ``folder``; its output (both streams) to a file."""
    log = folder / f"{name}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "escalation_flow", "daemon", *args],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _STARTED.append(process)
    return DaemonProcess(process, log)


def reap() -> None:
    """Kill every daemon a test started that is still running (a failed test leaves none)."""
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def run(env: dict[str, str], folder: Path, *args: str) -> tuple[int, str]:
    done = start(env, folder, *args, name="once")
    code = done.wait()
    return code, done.text()


def wait_until(
    condition: Callable[[], bool], timeout: float = PATIENCE, every: float = 0.02
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def fired(url: str) -> int:
    return count(url, "SELECT count(*) FROM timers WHERE status = 'fired'")


@dataclass(frozen=True)
class Firing:
    """What the database says about the timers and their histories."""

    statuses: Counter[str]
    fired_events: Counter[tuple[int, str]]  # (case id, timer key) -> timer_fired records
    timer_keys: set[tuple[int, str]]
    order: list[tuple[str, str]]  # (fire_at, pupil) of timer_fired records, in the order written
    broken: dict[int, list[int]]  # case id -> seq of records out of order or off the chain
    claimed_by: Counter[str]
    late: list[int | None]


def firing(url: str) -> Firing:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            timers = conn.execute(
                sa.text(
                    "SELECT t.case_id, t.key, t.status, t.claimed_by, t.late_seconds, t.fire_at, "
                    "c.pupil FROM timers t JOIN cases c ON c.id = t.case_id"
                )
            ).all()
            events = conn.execute(
                sa.text(
                    "SELECT id, case_id, body FROM case_events WHERE type = 'timer_fired' "
                    "ORDER BY id"
                )
            ).all()
            cases = conn.execute(sa.text("SELECT id, pupil, length FROM cases")).all()
            broken: dict[int, list[int]] = {}
            for case_id, pupil, length in cases:
                rows = history(conn, case_id)
                bad = broken_links([(r.link(f"oaks/{pupil}"), r.hash) for r in rows])
                if bad or len(rows) != length:
                    broken[case_id] = bad or [len(rows)]
    finally:
        engine.dispose()
    of_case = {(t.case_id, t.key): (str(t.fire_at), t.pupil) for t in timers}
    keys = [(e.case_id, json.loads(e.body)["timer_key"]) for e in events]
    return Firing(
        statuses=Counter(t.status for t in timers),
        fired_events=Counter(keys),
        timer_keys=set(of_case),
        order=[of_case[k] for k in keys],
        broken=broken,
        claimed_by=Counter(t.claimed_by for t in timers if t.claimed_by),
        late=[t.late_seconds for t in timers],
    )


def assert_each_fired_once(url: str, timers: int) -> Firing:
    seen = firing(url)
    assert seen.statuses == Counter({"fired": timers}), seen.statuses
    assert set(seen.fired_events) == seen.timer_keys
    twice = {k: n for k, n in seen.fired_events.items() if n != 1}
    assert not twice, f"timers fired more than once: {twice}"
    assert not seen.broken, f"histories out of order or off their chain: {seen.broken}"
    assert all(late is not None and late >= 0 for late in seen.late)
    return seen
