"""Make ``release-a694365.sqlite.gz``: a small database written by the release before
checkpoints and recorded seals (commit a694365), which ``tests/adapters/test_tamper_upgrade.py``
upgrades and verifies with the code of today.

    git worktree add /tmp/base a694365
    .venv/bin/python tests/data/make_release_db.py /tmp/base

The old code runs from its own source (``PYTHONPATH=BASE/src``) with this virtualenv's
libraries: it migrates a new SQLite file, imports the sample trust's roster and its first two
weeks of marks (sealed, as that release did by default), a third week with ``--no-seal`` (a
back-fill never sealed), evaluates eight school days, approves a letter and completes a task.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

OUT = Path(__file__).with_name("release-a694365.sqlite.gz")
DAYS = ["2025-09-03", "2025-09-04", "2025-09-05", "2025-09-08", "2025-09-09", "2025-09-10",
        "2025-09-11", "2025-09-12"]  # fmt: skip


def main(base: Path) -> None:
    sample = base / "config" / "sample-trust"  # the release's own trust, flows and marks
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        db = work / "release.sqlite"
        env = os.environ | {
            "PYTHONPATH": str(base / "src"),
            "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{db}",
            "ESCALATION_FLOW_TRUST_FILE": str(sample / "trust.yaml"),
            "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        }

        def run(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "escalation_flow", *args],
                env=env, cwd=work, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(args)}: {done.stdout}{done.stderr}")
            return done.stdout

        first, backfill = _split_marks(sample, work)
        run("db", "upgrade")
        run("import", "roster", str(sample / "roster.csv"), "--by", "fixture")
        run("import", "marks", str(first), "--by", "fixture")
        run("import", "marks", str(backfill), "--by", "fixture", "--no-seal")
        for day in DAYS:
            run("run-day", "--date", day)
        _act(run, db)
        with closing(sqlite3.connect(db)) as conn:  # everything into the one file
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        with db.open("rb") as raw, gzip.open(OUT, "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
    print(f"{OUT}: {OUT.stat().st_size} bytes")


def _split_marks(sample: Path, work: Path) -> tuple[Path, Path]:
    """The sample's marks of 3-12 September, and of 15-19 September (the back-fill)."""
    lines = (sample / "marks.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    first = [r for r in rows if r.split(",")[2] <= DAYS[-1]]
    later = [r for r in rows if DAYS[-1] < r.split(",")[2] <= "2025-09-19"]
    paths = (work / "first.csv", work / "backfill.csv")
    for path, chosen in zip(paths, (first, later), strict=True):
        path.write_text("\n".join([header, *chosen]) + "\n", encoding="utf-8")
    return paths


def _act(run: Callable[..., str], db: Path) -> None:
    """A letter approved and its task completed, as staff would on the command line."""
    with closing(sqlite3.connect(db)) as conn:
        letter, task = conn.execute("SELECT id, task_id FROM letters ORDER BY id").fetchone()
    run("letters", "approve", str(letter), "--by", "s.jones")
    run("tasks", "done", str(task), "--outcome", "sent", "--by", "s.jones")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
