"""``escalation-flow facts`` as a real process, and the native threads alive as it exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = (
    "facts", "--calendar", str(ROOT / "config" / "calendars" / "england-2025-26.yaml"),
    "--marks", str(ROOT / "config" / "sample-trust" / "marks.csv"),
    "--school", "school-01", "--pupil", "S01-P0001", "--as-of", "2025-12-19", "--json",
)  # fmt: skip

#: Runs the command, then (at interpreter exit, after everything else) names its threads.
WATCHED = """
import atexit, os, sys

def threads():
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            names.append(open(f"/proc/self/task/{task}/comm").read().strip())
        except OSError:
            pass
    print("THREADS " + ",".join(sorted(names)), file=sys.stderr)

atexit.register(threads)
from escalation_flow.cli import main
main(sys.argv[1:], prog_name="escalation-flow")
"""


@dataclass(frozen=True)
class Exit:
    code: int
    stdout: str
    stderr: str

    def complete_json(self) -> bool:
        try:
            return bool(json.loads(self.stdout))
        except ValueError:
            return False


def run_facts(watch_threads: bool = False) -> Exit:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATION_FLOW_")}
    env["OPENBLAS_NUM_THREADS"] = "1"  # numpy's own pool: not the one under test
    command = [sys.executable, "-c", WATCHED] if watch_threads else [sys.executable, "-m"]
    if not watch_threads:
        command.append("escalation_flow")
    done = subprocess.run(
        [*command, *ARGS], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return Exit(done.returncode, done.stdout, done.stderr)


def threads_at_exit(result: Exit) -> list[str]:
    line = next(x for x in result.stderr.splitlines() if x.startswith("THREADS "))
    return line.removeprefix("THREADS ").split(",")
