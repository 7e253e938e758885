"""PostgreSQL takes marks by binary ``COPY`` built from the columns (``copy_binary``): the bytes
follow PostgreSQL's format, and what it stores, first import or later, is what SQLite stores
from the same files, and its seals verify."""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, bulk
from escalation_flow.adapters.store import copy_binary as cb
from escalation_flow.adapters.trust_files import SchoolConfig, Trust
from escalation_flow.audit.store_check import verify_store
from escalation_flow.core.marks import to_micros
from tests.burst_builders import fresh_postgres_database, postgres_admin_url

CALENDARS = Path(__file__).resolve().parents[2] / "config" / "calendars"
HEADER = "school,pupil,date,session,code,minutes_late,recorded_at,recorded_by"


def _decoded(blob: bytes) -> list[list[bytes | None]]:
    """A plain reading of the binary format, field by field (the reference)."""
    out: list[list[bytes | None]] = []
    at = 0
    while at < len(blob):
        (count,) = struct.unpack_from(">h", blob, at)
        at += 2
        row: list[bytes | None] = []
        for _ in range(count):
            (size,) = struct.unpack_from(">i", blob, at)
            at += 4
            if size < 0:
                row.append(None)
                continue
            row.append(blob[at : at + size])
            at += size
        out.append(row)
    return out


def test_rows_are_the_field_count_then_each_field_s_length_and_bytes() -> None:
    days = cb.pg_days([dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2025, 9, 3)])
    at = datetime(2025, 9, 3, 8, 50, 0, 123456, tzinfo=UTC)
    fixed = [
        cb.Fixed(">i4", 7),
        cb.Fixed(">i4", days),
        cb.Fixed(">i8", np.array([cb.pg_micros(to_micros(at))] * 3)),
    ]
    few = [
        cb.Few([b"AM", b"PM"], np.array([0, 1, 0])),
        cb.Few([None, cb.int2(0), cb.int2(12)], np.array([0, 1, 2])),
        cb.Few([cb.text("Zoë"), None], np.array([1, 0, 0])),
    ]
    blob = bytes(cb.data(cb.rows(fixed, few, 3)))
    micros = (at - datetime(2000, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    time = micros.to_bytes(8, "big")
    since_2000 = (dt.date(2025, 9, 3) - dt.date(2000, 1, 1)).days
    assert _decoded(blob) == [
        [b"\0\0\0\x07", b"\xff\xff\xff\xff", time, b"AM", None, None],
        [b"\0\0\0\x07", b"\0\0\0\0", time, b"PM", b"\0\0", "Zoë".encode()],
        [b"\0\0\0\x07", since_2000.to_bytes(4, "big"), time, b"AM", b"\0\x0c", "Zoë".encode()],
    ]
    # in pieces, the same bytes
    assert b"".join(bytes(p) for p in cb.pieces(fixed, few, 3, 2)) == blob


def _trust() -> Trust:
    schools = {
        s: SchoolConfig(s, s.title(), None, Path("flow.yaml"), (), None, {})
        for s in ("oaks", "pines")
    }
    return Trust("t", "Europe/London", Path("trust.yaml"), schools)


def _file(folder: Path, name: str, pupils: range, days: tuple[str, ...]) -> Path:
    """Marks with every kind of field: codes of two letters, late marks of 0 minutes and of
    none, names with a comma and beyond ASCII or none, and rows without ``recorded_at``."""
    rows = []
    codes = ("/", "L", "C1", "Y1", "N", "#")
    for p in pupils:
        by = ("", "Mrs Ödön", '"Bloggs, J"')[p % 3]
        for day in days:
            d = int(day[-2:])  # a day's marks are the same in every file
            code = codes[(p + d) % len(codes)]
            late = {"L": str(p % 2 * 9)}.get(code, "")
            school = "pines" if p % 4 == 0 else "oaks"
            rows.append(f"{school},P{p:03},{day},AM,{code},{late},{day}T08:5{d % 10}:00+01:00,{by}")
            rows.append(f"{school},P{p:03},{day},PM,{code},{late},,{by}")  # no recorded_at
    path = folder / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _stored(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT s.key, p.mis_id, m.date, m.session, m.recorded_at, m.code, "
                "m.minutes_late, m.recorded_by, m.imported_at, m.import_id FROM marks m "
                "JOIN schools s ON s.id = m.school_id JOIN pupils p ON p.id = m.pupil_id "
                "ORDER BY 1, 2, 3, 4, 5, 6"
            ).all()
    finally:
        engine.dispose()
    return [tuple(_plain(v) for v in r) for r in rows]


def _plain(value: object) -> object:
    """A value as both databases give it: a time as UTC microseconds, a date as ISO text."""
    if isinstance(value, datetime):
        return to_micros(value)
    return value.isoformat() if isinstance(value, dt.date) else value


def _imports(url: str, files: list[Path]) -> Store:
    calendar = load_calendar(CALENDARS / "england-2025-26.yaml")
    store = Store(url)
    store.migrate()
    store.upsert_schools(_trust())
    for i, path in enumerate(files):
        now = datetime(2025, 10, 1, 18, i, tzinfo=UTC)
        result = read_marks(path, {"oaks": calendar, "pines": calendar})
        store.import_marks(result, file=path, now=now, by="test", seal=True)
    return store


@pytest.fixture
def postgres() -> Iterator[str]:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is not set or does not answer")
    with fresh_postgres_database(admin) as url:
        yield url


@pytest.mark.postgres
def test_postgresql_stores_what_sqlite_stores_first_import_and_later_and_seals_verify(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_ROWS_PER_COPY", 7)  # many pieces, the last one short
    first = _file(tmp_path, "first.csv", range(1, 40), ("2025-09-03", "2025-09-04"))
    # the same marks again, and new ones: the staging table, which skips the ones stored
    later = _file(tmp_path, "later.csv", range(1, 45), ("2025-09-04", "2025-09-05"))
    sqlite = f"sqlite:///{tmp_path / 'store.sqlite'}"
    for url in (sqlite, postgres):
        _imports(url, [first, later]).dispose()
    ours, theirs = _stored(postgres), _stored(sqlite)
    assert len(ours) == 39 * 4 + 44 * 2 + 5 * 2 and ours == theirs
    assert {r[5] for r in ours} >= {"C1", "Y1", "L"}
    assert {r[7] for r in ours} == {None, "Mrs Ödön", "Bloggs, J"}
    assert {r[6] for r in ours} == {None, 0, 9}
    engine = sa.create_engine(postgres)
    try:
        report = verify_store(engine)
    finally:
        engine.dispose()
    assert report.ok, report.summary()
