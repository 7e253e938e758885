"""The SQLite import binds a stand-in number for each missing value (``bulk._NONE``, made NULL
again by the statement) and seals on a thread of its own: what is stored and sealed is as
before, whatever the row count against the rows per statement."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, bulk
from escalation_flow.adapters.store import seal_columns as sc
from escalation_flow.adapters.trust_files import SchoolConfig, Trust

CALENDARS = Path(__file__).resolve().parents[2] / "config" / "calendars"
NOW = datetime(2025, 12, 1, 18, 0, tzinfo=UTC)
HEADER = "school,pupil,date,session,code,minutes_late,recorded_at,recorded_by"


def _rows(pupils: int) -> list[str]:
    """Four marks a pupil over two days: a late mark of 0 minutes, one of 7, one without
    minutes and one without recorded_at (the staging path); every other pupil names no one."""
    rows = []
    for p in range(pupils):
        by = "" if p % 2 else f"user {p % 3}"
        rows += [
            f"oaks,P{p:04},2025-09-03,AM,L,0,2025-09-03T09:05:00+01:00,{by}",
            f"oaks,P{p:04},2025-09-03,PM,L,7,2025-09-03T13:30:00+01:00,{by}",
            f"oaks,P{p:04},2025-09-04,AM,/,,2025-09-04T08:55:00+01:00,{by}",
            f"oaks,P{p:04},2025-09-04,PM,N,,,{by}",
        ]
    return rows


def test_missing_values_are_stored_as_null_and_zero_minutes_as_zero(tmp_path: Path) -> None:
    # full statements and a shorter last one, both into marks and into the staging table
    pupils = bulk._ROWS_PER_INSERT + 13
    path = tmp_path / "marks.csv"
    path.write_text("\n".join([HEADER, *_rows(pupils)]) + "\n", encoding="utf-8")
    calendar = load_calendar(CALENDARS / "england-2025-26.yaml")
    school = SchoolConfig("oaks", "Oaks", None, Path("flow.yaml"), (), None, {})
    db = tmp_path / "store.sqlite"
    store = Store(f"sqlite:///{db}")
    try:
        store.migrate()
        store.upsert_schools(Trust("t", "Europe/London", Path("trust.yaml"), {"oaks": school}))
        result = read_marks(path, {"oaks": calendar})
        summary = store.import_marks(result, file=path, now=NOW, by="test", seal=True)
    finally:
        store.dispose()
    assert summary.imported == 4 * pupils
    with closing(sqlite3.connect(db)) as conn:
        stored = conn.execute(
            "SELECT p.mis_id, m.date || m.session, m.minutes_late, m.recorded_by, "
            "m.recorded_at = m.imported_at FROM marks m JOIN pupils p ON p.id = m.pupil_id"
        ).fetchall()
    assert len(stored) == 4 * pupils
    for pupil, cell, minutes, by, recorded_now in stored:
        number = int(pupil[1:])
        assert by == (None if number % 2 else f"user {number % 3}")
        assert minutes == {"2025-09-03AM": 0, "2025-09-03PM": 7}.get(cell)
        assert recorded_now == (cell == "2025-09-04PM")  # no recorded_at: recorded at import


def _columns(n: int) -> sc.SealColumns:
    rng = np.random.default_rng(13)
    return sc.SealColumns(
        pupil=sc.Field([f"P{i}" for i in range(7)], rng.integers(0, 7, n)),
        day=sc.Field(["2025-09-03", "2025-09-04"], rng.integers(0, 2, n)),
        session=sc.Field(["AM", "PM"], rng.integers(0, 2, n)),
        code=sc.Field(["/", "L", "N"], rng.integers(0, 3, n)),
        recorded_at=rng.integers(1_756_000_000_000_000, 1_757_000_000_000_000, n),
        minutes_late=rng.integers(-1, 30, n),
        imported_at=np.full(n, 1_757_100_000_000_000),
    )


def test_a_seal_worked_out_on_the_sealing_thread_is_the_one_worked_out_in_line() -> None:
    cols = _columns(500)
    seal = sc.sealed(cols)
    assert (seal.rows, seal.digest, seal.fingerprints) == (
        500, sc.digest(cols), sc.fingerprints(cols),
    )  # fmt: skip


def test_a_seal_that_fails_on_the_sealing_thread_fails_where_it_is_read() -> None:
    cols = _columns(10)
    broken = sc.SealColumns(
        cols.pupil, cols.day, cols.session, cols.code, cols.recorded_at[:3],
        cols.minutes_late, cols.imported_at,
    )  # fmt: skip
    seal = sc.sealed(broken)
    with pytest.raises(pa.ArrowInvalid):
        _ = seal.digest
