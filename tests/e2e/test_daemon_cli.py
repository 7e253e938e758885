"""``escalation-flow daemon`` as a user drives it: a start refused with a clear message and
nothing written; ``--once`` doing what is due and, run again, nothing; the inbox; catching up on
missed school days; a simulated period that resumes where it stopped; one daemon per SQLite file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import Clock, SimulatedClock
from tests.burst_builders import LONDON, Burst, build_burst
from tests.daemon_builders import ROOT, SCHOOL
from tests.e2e.daemon_processes import environment, reap, start, wait_until

TIMERS = 30
TABLES = ("cases", "case_events", "tasks", "timers", "letters", "school_days", "imports")


@pytest.fixture(autouse=True)
def _no_daemon_left_running() -> Iterator[None]:
    yield
    reap()


@pytest.fixture
def burst(tmp_path: Path) -> Burst:
    return build_burst(f"sqlite:///{tmp_path / 'store.sqlite'}", tmp_path, TIMERS)


def env_for(url: str, trust: Path, folder: Path) -> dict[str, str]:
    return {
        "ESCALATION_FLOW_DATABASE_URL": url,
        "ESCALATION_FLOW_TRUST_FILE": str(trust),
        "ESCALATION_FLOW_INBOX_DIR": str(folder / "inbox"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
    }


def daemon(env: dict[str, str], *args: str, clock: Clock | None = None) -> Result:
    """The daemon command, on ``clock`` when given (handed to the composition root)."""
    root = Root(clock) if clock is not None else Root()
    return CliRunner().invoke(main, ["daemon", *args], env=env, obj=root)


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1"))]
                for t in TABLES
            }
    finally:
        engine.dispose()


def pending(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM timers WHERE status = 'pending'"
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def trust_with(folder: Path, flow: Path, calendars: list[Path]) -> Path:
    path = folder / "other-trust.yaml"
    path.write_text(
        f"""name: test-trust
timezone: Europe/London
schools:
  - id: {SCHOOL}
    name: Oaks Test Academy
    urn: "990001"
    flow: {flow}
    calendars: [{", ".join(str(c) for c in calendars)}]
    address: ["1 Oak Lane", "Oakham OK1 1AA"]
    phone: "01632 960 001"
    email: office@example.org
    attendance_contact: {{name: Mrs A. Test, role: Attendance Lead}}
    signatory: {{name: Mr B. Test, role: Head Teacher}}
""",
        encoding="utf-8",
    )
    return path


# -- refusals --------------------------------------------------------------------------------


def test_a_flow_failing_its_checks_refuses_the_start_naming_its_line_and_writes_nothing(
    burst: Burst, tmp_path: Path
) -> None:
    broken = ROOT / "tests" / "data" / "flows_broken" / "typo-in-fact.yaml"
    calendars = [ROOT / "config" / "calendars" / "england-2025-26.yaml"]
    env = env_for(burst.url, trust_with(tmp_path, broken, calendars), tmp_path)
    before = snapshot(burst.url)

    result = daemon(env, "--once")

    assert result.exit_code == 2, result.output
    assert "error: the daemon cannot start: flow" in result.stderr
    assert "typo-in-fact.yaml:33: stages[number=1].entry.any[0].when: unknown name 'attendence_pct'" in (
        result.stderr
    )
    assert snapshot(burst.url) == before
    assert not (tmp_path / "inbox").exists()
    assert not list(tmp_path.glob("*.daemon.lock"))


def test_a_missing_calendar_refuses_the_start_and_writes_nothing(
    burst: Burst, tmp_path: Path
) -> None:
    flow = ROOT / "flows" / "leigh-academy-oaks.yaml"
    missing = tmp_path / "calendars" / "kent-2025-26.yaml"
    env = env_for(burst.url, trust_with(tmp_path, flow, [missing]), tmp_path)
    before = snapshot(burst.url)

    result = daemon(env, "--once")

    assert result.exit_code == 2, result.output
    assert str(missing) in result.stderr
    assert snapshot(burst.url) == before
    assert not (tmp_path / "inbox").exists()


def test_an_unreachable_database_refuses_the_start_with_a_clear_message(tmp_path: Path) -> None:
    burst_trust = build_burst(f"sqlite:///{tmp_path / 'unused.sqlite'}", tmp_path, 1).trust
    env = env_for("postgresql+psycopg://nobody@127.0.0.1:1/x", burst_trust, tmp_path)

    result = daemon(env, "--once")

    assert result.exit_code == 3, result.output
    assert "error: cannot reach the database postgresql+psycopg://nobody@127.0.0.1:1/x" in (
        result.stderr
    )
    assert not (tmp_path / "inbox").exists()


@pytest.mark.parametrize("made", [False, True], ids=["no file", "empty file"])
def test_a_database_not_created_or_not_migrated_is_refused_and_left_alone(
    tmp_path: Path, made: bool
) -> None:
    trust = build_burst(f"sqlite:///{tmp_path / 'other.sqlite'}", tmp_path, 1).trust
    database = tmp_path / "var" / "store.sqlite"
    if made:
        database.parent.mkdir()
        database.touch()
    env = env_for(f"sqlite:///{database}", trust, tmp_path)

    result = daemon(env, "--once")

    assert result.exit_code == 3, result.output
    assert "escalation-flow db upgrade" in result.stderr
    assert database.exists() == made
    assert not made or database.stat().st_size == 0


def test_a_second_daemon_on_one_sqlite_file_refuses_to_start(burst: Burst, tmp_path: Path) -> None:
    env = env_for(burst.url, burst.trust, tmp_path)
    first = start(environment(burst.url, burst.trust, tmp_path), tmp_path, "--catch-up-days", "0")
    assert wait_until(lambda: '"daemon.scheduled"' in first.text()), first.text()

    second = daemon(env, "--once")

    database = burst.url.removeprefix("sqlite:///")
    assert second.exit_code == 4, second.output
    assert (
        f"error: another daemon is running against {database} (pid {first.process.pid})"
        in second.stderr
    )
    first.process.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, first.text()
    assert daemon(env, "--once", "--catch-up-days", "0").exit_code == 0, "the lock went with it"


# -- doing what is due -----------------------------------------------------------------------


def test_once_fires_what_is_due_and_run_again_writes_nothing(burst: Burst, tmp_path: Path) -> None:
    env = env_for(burst.url, burst.trust, tmp_path)

    first = daemon(env, "--once", "--catch-up-days", "0")
    after_first = snapshot(burst.url)
    again = daemon(env, "--once", "--catch-up-days", "0")

    assert first.exit_code == 0, first.output
    assert pending(burst.url) == 0
    assert '"overdue_timers": 30' in first.stderr
    assert again.exit_code == 0, again.output
    assert '"overdue_timers": 0' in again.stderr
    assert snapshot(burst.url) == after_first


def test_missed_school_days_are_evaluated_oldest_first_within_the_catch_up_window(
    burst: Burst, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thursday 16 October 2025, 19:00: the registers of the 14th, 15th and 16th have closed."""
    now = datetime.combine(date(2025, 10, 16), time(19), tzinfo=LONDON).astimezone(UTC)
    env = env_for(burst.url, burst.trust, tmp_path)

    result = daemon(env, "--once", "--catch-up-days", "3", clock=SimulatedClock(now))

    assert result.exit_code == 0, result.output
    evaluated = snapshot(burst.url)["school_days"]
    assert [str(row[1]) for row in evaluated] == [str(date(2025, 10, d)) for d in (14, 15, 16)]
    assert pending(burst.url) == 0, "the days fired the timers due on them"
    assert '"days_evaluated": 3' in result.stderr


def test_a_simulated_period_runs_its_days_and_run_again_resumes_without_doing_them_twice(
    burst: Burst, tmp_path: Path
) -> None:
    env = env_for(burst.url, burst.trust, tmp_path)
    period = ("--clock", "simulated", "--from", "2025-10-13", "--to", "2025-10-14", "--speed", "0")

    first = daemon(env, *period)
    after_first = snapshot(burst.url)
    again = daemon(env, *period)

    assert first.exit_code == 0, first.output
    assert "simulated 2025-10-13 to 2025-10-14: 2 school days, 2 school-day evaluations" in (
        first.stdout
    )
    assert "20 review timers fired" in first.stdout, "those due on the 13th and 14th, at 08:00"
    assert pending(burst.url) == TIMERS - 20
    assert "Mon 2025-10-13 08:00" in first.stderr, "log lines carry the simulated time"
    assert again.exit_code == 0, again.output
    assert "0 school-day evaluations (2 done before)" in again.stdout
    assert snapshot(burst.url) == after_first


# -- the inbox -------------------------------------------------------------------------------


def test_the_inbox_imports_good_files_and_rejects_a_corrupt_one_with_its_reasons(
    burst: Burst, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    header = "school,pupil,date,session,code,minutes_late,recorded_at"
    good = [header] + [
        f"{SCHOOL},B0000{p},2025-10-13,{s},/,,2025-10-13T09:0{p}:00+01:00"
        for p in range(3)
        for s in ("AM", "PM")
    ]
    (inbox / "monday.csv").write_text("\n".join(good) + "\n", encoding="utf-8")
    bad = [header, f"{SCHOOL},B00001,2025-10-14,AM,QQ,,", f"{SCHOOL},B00002,2025-13-40,PM,/,,"]
    (inbox / "tuesday.csv").write_text("\n".join(bad) + "\n", encoding="utf-8")
    (inbox / "wednesday.csv.part").write_text(header + "\n", encoding="utf-8")
    for path in inbox.iterdir():  # written a minute ago: complete
        os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))
    env = env_for(burst.url, burst.trust, tmp_path)

    result = daemon(env, "--once", "--catch-up-days", "0")

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["wednesday.csv.part"]
    assert (inbox / "processed" / "monday.csv").is_file()
    assert (inbox / "rejected" / "tuesday.csv").is_file()
    reasons = (inbox / "rejected" / "tuesday.csv.reasons.txt").read_text(encoding="utf-8")
    assert "tuesday.csv:2: code: 'QQ' is not a register code" in reasons
    assert "tuesday.csv:3: date:" in reasons
    imports = snapshot(burst.url)["imports"]
    assert [(row[1], row[4]) for row in imports if row[1] == "marks"] == [("marks", 6)]
    assert '"inbox.imported"' in result.stderr and '"inbox.rejected"' in result.stderr


# -- signals ---------------------------------------------------------------------------------

SIGNALLED = """
import os, signal, threading, time
from escalation_flow.daemon.runner import stop_signals
from escalation_flow.logs import configure_logging, get_logger

configure_logging("json")

class Busy:
    stopping = threading.Event()
    log = get_logger("test")

with stop_signals(Busy()):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    print("warm", Busy.stopping.is_set(), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
print("still running")
"""


def test_a_first_signal_asks_the_daemon_to_stop_and_a_second_stops_it_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED], capture_output=True, text=True, timeout=30
    )

    assert done.stdout.splitlines() == ["warm True"]
    assert done.returncode == 128 + signal.SIGTERM
    assert '"daemon.stopping"' in done.stderr and '"daemon.stopped_at_once"' in done.stderr
