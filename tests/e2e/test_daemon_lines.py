"""The daemon on a terminal: one readable line per school day (counts by kind), the full log
behind --verbose, JSON off a terminal; the closing summary counts what review timers caused."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import structlog

from escalation_flow.cli.daemon_lines import DayLines, shows_lines
from tests.burst_builders import Burst, build_burst
from tests.e2e.daemon_processes import environment

TIMERS = 30
SIMULATED = ("--clock", "simulated", "--from", "2025-10-13", "--speed", "0")
PERIOD = (*SIMULATED, "--to", "2025-10-14")


def test_day_lines_show_on_a_terminal_unless_verbose_or_json_was_asked() -> None:
    assert shows_lines("auto", verbose=False, on_terminal=True)
    assert shows_lines("console", verbose=False, on_terminal=True)
    assert not shows_lines("auto", verbose=True, on_terminal=True)
    assert not shows_lines("json", verbose=False, on_terminal=True)
    assert not shows_lines("auto", verbose=False, on_terminal=False)


def _event(lines: DayLines, name: str, level: str = "info", **fields: object) -> bool:
    """Feed one log event; whether it went on to the renderer."""
    try:
        lines(None, level, {"event": name, **fields})
    except structlog.DropEvent:
        return False
    return True


def test_a_school_days_events_make_one_line_with_counts_by_kind() -> None:
    written: list[str] = []
    today = date(2025, 10, 14)
    lines = DayLines(written.append, schools=2, today=lambda: today)
    # Monday: school A opens a case (its first stage is the opening, not a move), makes a task
    # and a letter; school B moves a case on
    _event(lines, "case.opened")
    _event(lines, "case.stage_entered", from_stage=0)
    _event(lines, "task.created")
    _event(lines, "letter.prepared")
    _event(lines, "day.evaluated", day="2025-10-13")
    assert written == [], "the day is not over until every school is evaluated"
    _event(lines, "case.stage_entered", from_stage=1)
    _event(lines, "day.evaluated", day="2025-10-13")
    assert written == ["Mon 2025-10-13  2 schools: 1 case opened, 1 case moved on, 1 task, 1 letter"]
    # Tuesday morning: a review timer fires and moves a case on (its events carry timer_id)
    _event(lines, "timer.fired", timer_id=7)
    _event(lines, "case.stage_entered", from_stage=2, timer_id=7)
    _event(lines, "task.created", timer_id=7)
    assert not _event(lines, "case.closed"), "info events are summarised, not shown"
    assert _event(lines, "day.retrying", level="warning"), "warnings still show"
    lines.finish()
    assert written[1] == "Tue 2025-10-14  1 case moved on, 1 case closed, 1 task, 1 timer fired"
    assert lines.by_timers == Counter({"moved": 1, "tasks": 1})
    assert lines.summary().endswith("; review timers caused 1 case moved on, 1 task")


@pytest.fixture
def burst(tmp_path: Path) -> Burst:
    return build_burst(f"sqlite:///{tmp_path / 'store.sqlite'}", tmp_path, TIMERS)


def _on_a_terminal(env: dict[str, str], folder: Path, *args: str) -> str:
    """``escalation-flow daemon ARGS`` with its output on a pseudo-terminal, as a person runs it."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "escalation_flow", "daemon", *args],
        env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=child, stderr=child,
    )  # fmt: skip
    os.close(child)
    out = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        out += chunk
    process.wait(timeout=30)
    os.close(main)
    assert process.returncode == 0, out.decode("utf-8", "replace")
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


def test_on_a_terminal_the_daemon_prints_a_line_per_school_day_and_what_timers_caused(
    burst: Burst, tmp_path: Path
) -> None:
    env = environment(burst.url, burst.trust, tmp_path) | {"ESCALATION_FLOW_LOG_FORMAT": "auto"}
    text = _on_a_terminal(env, tmp_path, *PERIOD)
    days = [line for line in text.splitlines() if line.startswith(("Mon 2025", "Tue 2025"))]
    assert [d[:14] for d in days] == ["Mon 2025-10-13", "Tue 2025-10-14"], text
    assert all("1 school:" in d and "timers fired" in d for d in days), days
    assert "case.opened" not in text and "task.created" not in text, "no event per case"
    assert "simulated 2025-10-13 to 2025-10-14: 2 school days" in text
    assert "of these, review timers caused" in text


def test_verbose_on_a_terminal_shows_the_full_log_and_off_a_terminal_it_is_json(
    burst: Burst, tmp_path: Path
) -> None:
    env = environment(burst.url, burst.trust, tmp_path) | {"ESCALATION_FLOW_LOG_FORMAT": "auto"}
    verbose = _on_a_terminal(env, tmp_path, *SIMULATED, "--to", "2025-10-13", "--verbose")
    assert "timer.fired" in verbose and "Mon 2025-10-13  " not in verbose
    piped = subprocess.run(
        [sys.executable, "-m", "escalation_flow", "daemon", *PERIOD],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    events = [json.loads(line) for line in piped.stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "timer.fired" for e in events)
    stopped = next(e for e in events if e["event"] == "daemon.stopped")
    assert "timers_caused" in stopped
