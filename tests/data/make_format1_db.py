"""Make ``format1-c03cf29.sqlite.gz``: a small database written by main at c03cf29, the last
code of chain format 1 (histories chained; letters, completions and the audit log not), which
``tests/adapters/test_tamper_upgrade.py`` upgrades to format 2 and verifies.

    git worktree add /tmp/base c03cf29     (or /work/main at that commit)
    .venv/bin/python tests/data/make_format1_db.py /tmp/base

As ``make_release_db.py`` does (the sample trust's roster, two weeks of marks sealed, a third
--no-seal, eight school days), then as staff would: a member of staff added and unlocked (the audit log), a
letter rendered to PDF, approved and recorded sent, a first-day call completed with a note;
and the checkpoint an auditor would have kept (``format1-c03cf29.checkpoint.json``).
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

from make_release_db import DAYS, _split_marks  # type: ignore[import-not-found]

OUT = Path(__file__).with_name("format1-c03cf29.sqlite.gz")
CHECKPOINT = Path(__file__).with_name("format1-c03cf29.checkpoint.json")


def main(base: Path) -> None:
    sample = base / "config" / "sample-trust"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        db = work / "format1.sqlite"
        env = os.environ | {
            "PYTHONPATH": str(base / "src"),
            "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{db}",
            "ESCALATION_FLOW_TRUST_FILE": str(sample / "trust.yaml"),
            "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        }

        def run(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "escalation_flow", *args],
                env=env, cwd=work, capture_output=True, text=True, check=False, input=stdin,
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(args)}: {done.stdout}{done.stderr}")
            return done.stdout

        first, backfill = _split_marks(sample, work)
        run("db", "upgrade")
        run("users", "add", "s.jones", "--name", "Sam Jones", "--role", "attendance_team",
            "--password-stdin", stdin="a long passphrase\n")  # fmt: skip
        run("users", "unlock", "s.jones")  # written to the audit log (trust-wide)
        run("import", "roster", str(sample / "roster.csv"), "--by", "s.jones")
        run("import", "marks", str(first), "--by", "s.jones")
        run("import", "marks", str(backfill), "--by", "s.jones", "--no-seal")
        called = False
        for day in DAYS:
            run("run-day", "--date", day)
            with closing(sqlite3.connect(db)) as conn:
                call = conn.execute(
                    "SELECT id FROM tasks WHERE case_id IS NULL AND status = 'open' ORDER BY id"
                ).fetchone()
            if call is not None and not called:  # a first-day call, done before it lapses
                run("tasks", "done", str(call[0]), "--outcome", "contact_made", "--by",
                    "s.jones", "--note", "spoke to mum")  # fmt: skip
                called = True
        with closing(sqlite3.connect(db)) as conn:
            letter, task = conn.execute(
                "SELECT id, task_id FROM letters WHERE status = 'prepared' ORDER BY id"
            ).fetchone()
        run("letters", "show", str(letter), "--pdf", str(work / "letter.pdf"))
        run("letters", "approve", str(letter), "--by", "s.jones")
        run("tasks", "done", str(task), "--outcome", "sent", "--by", "s.jones")
        run("audit", "checkpoint", "--out", str(CHECKPOINT))  # format 1, kept by an auditor
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        with db.open("rb") as raw, gzip.open(OUT, "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
