"""PostgreSQL takes marks by binary ``COPY`` built from the columns (``copy_binary``): the bytes
follow PostgreSQL's format, and what it stores, first import (its key built after the rows or
kept) or later, is what SQLite stores from the same files, and its seals verify. A first import
builds the key after its rows only when it can have the table to itself, and a failed one
leaves the key as it was."""

from __future__ import annotations

import datetime as dt
import struct
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, bulk
from escalation_flow.adapters.store import copy_binary as cb
from escalation_flow.adapters.trust_files import SchoolConfig, Trust
from escalation_flow.audit.store_check import verify_store
from escalation_flow.core.marks import MarkTable, to_micros
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


def _file(
    folder: Path, name: str, pupils: range, days: tuple[str, ...], untimed: bool = True
) -> Path:
    """Marks with every kind of field: codes of two letters, late marks of 0 minutes and of
    none, names with a comma and beyond ASCII or none, and (``untimed``) rows without
    ``recorded_at``."""
    rows = []
    codes = ("/", "L", "C1", "Y1", "N", "#")
    for p in pupils:
        by = ("", "Mrs Ödön", '"Bloggs, J"')[p % 3]
        for day in days:
            d = int(day[-2:])  # a day's marks are the same in every file
            code = codes[(p + d) % len(codes)]
            late = {"L": str(p % 2 * 9)}.get(code, "")
            school = "pines" if p % 4 == 0 else "oaks"
            for session, minute in (("AM", "08:5"), ("PM", "13:2")):
                at = "" if untimed and session == "PM" else f"{day}T{minute}{d % 10}:00+01:00"
                rows.append(f"{school},P{p:03},{day},{session},{code},{late},{at},{by}")
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
    store = Store(url)
    store.migrate()
    store.upsert_schools(_trust())
    for i, path in enumerate(files):
        _import(store, path, datetime(2025, 10, 1, 18, i, tzinfo=UTC))
    return store


def _import(
    store: Store, path: Path, now: datetime = datetime(2025, 10, 1, 18, tzinfo=UTC)
) -> None:
    calendar = load_calendar(CALENDARS / "england-2025-26.yaml")
    result = read_marks(path, {"oaks": calendar, "pines": calendar})
    store.import_marks(result, file=path, now=now, by="test", seal=True)


@pytest.fixture
def postgres() -> Iterator[str]:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is not set or does not answer")
    with fresh_postgres_database(admin) as url:
        yield url


def _key(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'marks'::regclass AND contype = 'p'"
            ).scalar()
    finally:
        engine.dispose()
    return None if found is None else str(found)


KEY = "PRIMARY KEY (school_id, pupil_id, date, session, recorded_at, code)"


def _spied(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each import built the key after its writes (``bulk.key_built_after``)."""
    said: list[bool] = []
    real = bulk.key_built_after

    @contextmanager
    def spy(connection: sa.Connection, tables: Iterable[MarkTable]) -> Iterator[bool]:
        with real(connection, tables) as fresh:
            said.append(fresh)
            yield fresh

    monkeypatch.setattr(bulk, "key_built_after", spy)
    return said


@pytest.mark.postgres
@pytest.mark.parametrize("key_after", [True, False], ids=["key-built-after", "key-kept"])
def test_postgresql_stores_what_sqlite_stores_first_import_and_later_and_seals_verify(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_after: bool
) -> None:
    monkeypatch.setattr(bulk, "_ROWS_PER_COPY", 7)  # many pieces, the last one short
    monkeypatch.setattr(bulk, "_KEY_AFTER_ROWS", 0 if key_after else 10**9)
    said = _spied(monkeypatch)
    first = _file(tmp_path, "first.csv", range(1, 40), ("2025-09-03", "2025-09-04"), False)
    # the same marks again, and new ones, some without recorded_at: the staging table
    later = _file(tmp_path, "later.csv", range(1, 45), ("2025-09-04", "2025-09-05"))
    sqlite = f"sqlite:///{tmp_path / 'store.sqlite'}"
    for url in (sqlite, postgres):
        _imports(url, [first, later]).dispose()
    # SQLite never drops its key; PostgreSQL did for its first import only, if asked
    assert said == [False, False, key_after, False]
    ours, theirs = _stored(postgres), _stored(sqlite)
    assert len(ours) == 39 * 4 + 44 * 2 + 5 * 2 and ours == theirs
    assert {r[5] for r in ours} >= {"C1", "Y1", "L"}
    assert {r[7] for r in ours} == {None, "Mrs Ödön", "Bloggs, J"}
    assert {r[6] for r in ours} == {None, 0, 9}
    assert _key(postgres) == KEY
    engine = sa.create_engine(postgres)
    try:
        report = verify_store(engine)
    finally:
        engine.dispose()
    assert report.ok, report.summary()


@pytest.mark.postgres
def test_a_first_import_keeps_the_key_while_another_transaction_reads_marks(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_KEY_AFTER_ROWS", 0)
    said = _spied(monkeypatch)
    path = _file(tmp_path, "first.csv", range(1, 20), ("2025-09-03",), False)
    store = _imports(postgres, [])
    reader = sa.create_engine(postgres)
    done = threading.Event()
    try:
        with reader.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM marks").scalar()  # its lock held
            # the import does not wait for the reader (it would wait for ever here)
            worker = threading.Thread(target=lambda: (_import(store, path), done.set()))
            worker.start()
            worker.join(timeout=30)
            assert done.is_set()
    finally:
        reader.dispose()
        store.dispose()
    assert said == [False] and len(_stored(postgres)) == 19 * 2
    assert _key(postgres) == KEY


@pytest.mark.postgres
def test_a_failed_first_import_leaves_the_key_and_no_marks(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_KEY_AFTER_ROWS", 0)
    said = _spied(monkeypatch)
    real = bulk.insert_marks
    calls: list[int] = []

    def fail_on_the_second_school(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk, "insert_marks", fail_on_the_second_school)
    path = _file(tmp_path, "first.csv", range(1, 20), ("2025-09-03",), False)
    store = _imports(postgres, [])
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            _import(store, path)
    finally:
        store.dispose()
    assert said == [True] and _stored(postgres) == []
    assert _key(postgres) == KEY


@pytest.mark.postgres
def test_a_day_file_is_copied_into_a_school_with_marks_and_a_file_sent_again_skips_them(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed day file after the days stored goes straight into ``marks``; one repeating
    stored rows is refused by the key and takes the staging way: both store what SQLite
    stores and count the same new rows."""
    monkeypatch.setattr(bulk, "_KEY_AFTER_ROWS", 10**9)
    copies: list[str] = []
    real = bulk._stage_copy

    def spy(dbapi: Any, cols: Any, into: str = "incoming_marks", **kwargs: Any) -> None:
        copies.append(into)
        real(dbapi, cols, into, **kwargs)

    monkeypatch.setattr(bulk, "_stage_copy", spy)
    files = [
        _file(tmp_path, "first.csv", range(1, 40), ("2025-09-03", "2025-09-04"), False),
        _file(tmp_path, "day.csv", range(1, 45), ("2025-09-05",), False),
        # sent again with a day more: its stored rows skipped, the new ones added
        _file(tmp_path, "again.csv", range(1, 45), ("2025-09-05", "2025-09-08"), False),
    ]
    imported: dict[str, list[int]] = {}
    calendar = load_calendar(CALENDARS / "england-2025-26.yaml")
    sqlite = f"sqlite:///{tmp_path / 'store.sqlite'}"
    for name, url in (("sqlite", sqlite), ("pg", postgres)):
        store = _imports(url, [])
        try:
            imported[name] = [
                store.import_marks(
                    read_marks(path, {"oaks": calendar, "pines": calendar}),
                    file=path,
                    now=datetime(2025, 10, 1, 18, i, tzinfo=UTC),
                    by="test",
                    seal=True,
                ).imported
                for i, path in enumerate(files)
            ]
        finally:
            store.dispose()
    # two schools a file: the first two files copied, the third refused, then staged
    assert copies == ["marks"] * 4 + ["marks", "incoming_marks"] * 2
    assert imported["pg"] == imported["sqlite"] == [39 * 4, 44 * 2, 44 * 2]
    ours, theirs = _stored(postgres), _stored(sqlite)
    assert ours == theirs and len(ours) == 39 * 4 + 44 * 2 * 2
