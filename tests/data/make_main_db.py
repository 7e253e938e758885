"""Make ``main-c03cf29.sqlite.gz`` and ``main-c03cf29.checkpoint.json``: a database whose marks
were sealed by main before issue 13 (seal format 1, every fingerprint two SHA-256 a row), and a
checkpoint main took of it. ``tests/adapters/test_seal_formats.py`` verifies both with today's
code, which writes format 2, and compares the stored marks with today's import of the same file.

    git worktree add /tmp/main c03cf29
    .venv/bin/python tests/data/make_main_db.py /tmp/main

As ``make_release_db.py``, the old code runs from its own source with this virtualenv's
libraries: it imports the sample trust's roster and its marks of 3-12 September (sealed), and
evaluates the first two school days.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "main-c03cf29.sqlite.gz"
CHECKPOINT = HERE / "main-c03cf29.checkpoint.json"
LAST_DAY = "2025-09-12"


def first_marks(sample: Path, out: Path) -> Path:
    """The sample's marks of 3-12 September (the file both main and today import)."""
    lines = (sample / "marks.csv").read_text(encoding="utf-8").splitlines()
    chosen = [r for r in lines[1:] if r.split(",")[2] <= LAST_DAY]
    out.write_text("\n".join([lines[0], *chosen]) + "\n", encoding="utf-8")
    return out


def main(base: Path) -> None:
    sample = base / "config" / "sample-trust"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        db = work / "main.sqlite"
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

        run("db", "upgrade")
        run("import", "roster", str(sample / "roster.csv"), "--by", "fixture")
        run("import", "marks", str(first_marks(sample, work / "first.csv")), "--by", "fixture")
        for day in ("2025-09-03", "2025-09-04"):
            run("run-day", "--date", day)
        run("audit", "checkpoint", "--out", str(CHECKPOINT))
        with closing(sqlite3.connect(db)) as conn:  # everything into the one file
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        with db.open("rb") as raw, gzip.open(OUT, "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
    print(f"{OUT}: {OUT.stat().st_size} bytes; {CHECKPOINT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
