"""Two writers on one SQLite file as real processes: the daemon on a simulated clock and
``run-day`` by hand beside it, as an attendance lead might run it while the daemon works."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.daemon_processes import environment, start

ROOT = Path(__file__).resolve().parents[2]
TRUST = ROOT / "config" / "sample-trust"
#: School days the hand-run ``run-day`` takes, one after another, while the daemon runs.
BY_HAND = ("2025-11-03", "2025-11-04", "2025-11-05", "2025-11-06", "2025-11-07", "2025-11-10")


@dataclass(frozen=True)
class Race:
    daemon_code: int
    daemon_log: str
    by_hand: list[tuple[int, str]]  # (exit code, output) of each run-day


def cli(env: dict[str, str], folder: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "escalation_flow", *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def sample_database(folder: Path) -> Path:
    """The sample trust's registers in a fresh SQLite file (made once, copied per race)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "store.sqlite"
    env = environment(f"sqlite:///{database}", TRUST / "trust.yaml", folder)
    for args in (
        ("db", "upgrade"),
        ("import", "roster", str(TRUST / "roster.csv")),
        ("import", "marks", str(TRUST / "marks.csv")),
    ):
        code, out = cli(env, folder, *args)
        assert code == 0, out
    return database


def race(template: Path, folder: Path) -> Race:
    """The daemon through September and October while ``run-day`` writes November's days."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "store.sqlite"
    shutil.copy(template, database)
    env = environment(f"sqlite:///{database}", TRUST / "trust.yaml", folder)
    daemon = start(
        env, folder, "--clock", "simulated", "--from", "2025-09-03", "--to", "2025-10-24",
        "--speed", "50", "--auto-complete-actions",
    )  # fmt: skip
    # one school by hand: the daemon's other schools write beside it (that school's earlier days
    # are then not evaluated by the daemon: school days are evaluated in order)
    # (--catch-up: school-05 was never evaluated, so its September and October come first)
    by_hand = [
        cli(env, folder, "run-day", "--date", day, "--school", "school-05", "--catch-up")
        for day in BY_HAND
    ]
    code = daemon.wait()
    return Race(code, daemon.text(), by_hand)
