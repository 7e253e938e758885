"""Render the sample case file in docs/audit/ from the bundled sample trust.

The autumn term of config/sample-trust is backtested with tasks done on their due dates, each
school day's decisions are written to a throwaway SQLite store as the daemon would have written
them that evening, and one case's file is exported as PDF (with its first page as PNG), HTML,
CSV and JSON. Run from the repository root::

    .venv/bin/python scripts/render_sample_case_file.py [--school school-01] [--pupil ID]

Without --pupil it takes the school's case with the most stage changes that also has a register
amendment. Needs pdftoppm (poppler-utils) for the PNG.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from escalation_flow import backtest as bt
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_store import seal_imports, store_flow_version
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.cases import school_id
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.audit.casework import case_file
from escalation_flow.audit.export import export
from escalation_flow.audit.inputs import AuditSource
from escalation_flow.core.case import Case, apply
from escalation_flow.core.decisions import Decision
from escalation_flow.core.school_day import SchoolCases
from escalation_flow.stored import ENGINE, CaseChange, StoredCase

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "config" / "sample-trust"
LONDON = ZoneInfo("Europe/London")
TERM_END = date(2025, 12, 19)
GENERATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def evening(day: date) -> datetime:
    return datetime.combine(day, time(18), tzinfo=LONDON).astimezone(UTC)


def persist(store: Store, book: SchoolCases) -> None:
    """The backtest's decisions written day by day, each at 18:00 that day."""
    with store.engine.begin() as conn:
        store_flow_version(conn, book.ctx.flow, evening(book.ctx.calendar.first_day))
        sid = school_id(conn, book.school)
        held: dict[str, StoredCase] = {}
        by_day: dict[date, dict[str, list[Decision]]] = {}
        for p, decisions in book.history.items():
            for d in decisions:
                by_day.setdefault(d.on, {}).setdefault(book.pupils[p], []).append(d)
        for day in sorted(by_day):
            flow = book.ctx.flow
            writer = HistoryWriter(
                conn, school_id=sid, school=book.school, flow=flow.id, flow_version=flow.version,
                now=evening(day), worker="sample",
            )  # fmt: skip
            changes = []
            for pupil, decisions in sorted(by_day[day].items()):
                before = held.get(pupil) or StoredCase(None, Case(book.school, pupil))
                after = before.case
                for d in decisions:
                    after = apply(after, d)
                changes.append(CaseChange(before, decisions, after, ENGINE))
            written = writer.write(changes)
            for c in changes:
                pupil = c.after.pupil
                held[pupil] = StoredCase(written.case_ids[pupil], c.after, written.heads[pupil])


def choose(book: SchoolCases, run: bt.SchoolRun) -> str:
    """A case with a register amendment and a few stage changes, not too long to read."""
    marks = run.marks
    scored = []
    for p, decisions in book.history.items():
        pupil = book.pupils[p]
        rows = marks.pupil == marks.pupils.index(pupil)
        versions = set(zip(marks.session[rows].tolist(), marks.code[rows].tolist(), strict=True))
        amended = len(versions) != len({session for session, _ in versions})
        moves = sum(1 for d in decisions if d.type in ("stage_entered", "state_entered"))
        scored.append((amended, 3 <= moves <= 8, -len(decisions), pupil))
    return max(scored)[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--school", default="school-01")
    parser.add_argument("--pupil", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "audit")
    args = parser.parse_args()
    trust = load_trust(SAMPLE / "trust.yaml")
    runs, _ = bt.prepare(
        bt.Sources(marks=(SAMPLE / "marks.csv",), trust=SAMPLE / "trust.yaml",
                   roster=SAMPLE / "roster.csv")
    )  # fmt: skip
    run = next(r for r in runs if r.school == args.school)
    book = bt.run_school(run, bt.Period(None, TERM_END), auto_complete=True)
    pupil = args.pupil or choose(book, run)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'sample.sqlite'}")
        try:
            store.migrate()
            store.upsert_schools(trust)
            start = datetime(2025, 9, 1, 7, tzinfo=UTC)
            marks = read_marks(SAMPLE / "marks.csv", trust.calendars(), aliases=trust.aliases)
            store.import_marks(marks, file=SAMPLE / "marks.csv", now=start, by="mis-export")
            rosters = read_roster(SAMPLE / "roster.csv", set(trust.schools), aliases=trust.aliases)
            store.import_roster(rosters, file=SAMPLE / "roster.csv", now=start, by="mis-export")
            with store.engine.begin() as conn:
                seal_imports(conn, start)
            persist(store, book)
            cf = case_file(AuditSource(store, trust), args.school, pupil, GENERATED)
        finally:
            store.dispose()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"case-file-{args.school}-{pupil}"
    for fmt in ("pdf", "csv"):
        Path(f"{stem}.{fmt}").write_bytes(export(cf, fmt))
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-r", "75", "-f", "1", "-l", "1", "-png", "-singlefile", f"{stem}.pdf",
             str(stem)],
            check=True,
        )  # fmt: skip
    print(f"{stem}.*: {len(cf.entries)} entries; {cf.replay_summary}")


if __name__ == "__main__":
    main()
