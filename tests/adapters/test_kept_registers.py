"""Registers kept in memory between reads (``Store.keep_registers``, the daemon's): every read
must give what a fresh read of the store gives, after any import, from any process."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.store import Store, bulk, marks_reader
from escalation_flow.adapters.store.kept_registers import (
    KEPT_SCHEMA,
    KeptMarks,
    _distinct,
    kept_arrays_sql,
    kept_of,
    kept_of_arrays,
    kept_sql,
)
from escalation_flow.adapters.store.marks_reader import RegisterReader
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.errors import CalendarError, StoreError
from escalation_flow.stored import SchoolRead
from tests.adapters import test_store as base

T0 = base.T0
_CALENDAR = load_calendar(base.CALENDARS / "england-2025-26.yaml")


@pytest.fixture
def calendar() -> SchoolCalendar:
    return _CALENDAR


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store with the schools oaks and pines (``test_store``'s, on each database)."""
    if request.param == "sqlite":
        made = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
        drop: Callable[[], None] = lambda: None  # noqa: E731
    else:
        url = base._postgres_url()
        schema = f"test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        made = Store(make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}))

        def drop() -> None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()

    made.migrate()
    made.upsert_schools(base._trust("oaks", "pines"))
    try:
        yield made
    finally:
        made.dispose()
        drop()


Amended = tuple[datetime, datetime, date]


def _read(
    store: Store, calendar: SchoolCalendar, at: datetime, amended: Amended | None
) -> SchoolRead:
    with store.register_reader() as reader:
        return reader.read("oaks", calendar, at, amended)


def _same(kept: SchoolRead, fresh: SchoolRead) -> None:
    assert kept.grid.pupils == fresh.grid.pupils
    assert np.array_equal(kept.grid.codes, fresh.grid.codes)
    assert kept.amended == fresh.amended
    assert kept.roster == fresh.roster


def _import(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, at: datetime, *rows: str
) -> None:
    path = base.marks_file(tmp_path, *rows, name=f"m{at.timestamp():.0f}.csv")
    store.import_marks(base.read(path, calendar), file=path, now=at, by="tester")


DAYS = [
    "oaks,P1,2025-09-03,AM,/,,2025-09-03T08:50:00+01:00",
    "oaks,P2,2025-09-03,AM,N,,2025-09-03T09:30:00+01:00",
    "pines,P1,2025-09-03,AM,/,,2025-09-03T08:50:00+01:00",
]
NEXT_DAY = [
    "oaks,P1,2025-09-04,AM,N,,2025-09-04T08:50:00+01:00",
    "oaks,P3,2025-09-04,PM,L,7,2025-09-04T13:20:00+01:00",  # a pupil new to the school
]
AMENDMENT = [  # an earlier day's mark changed, a day later
    "oaks,P2,2025-09-03,AM,I,,2025-09-04T11:00:00+01:00",
]


def test_a_kept_register_reads_as_a_fresh_read_after_new_days_and_amendments(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    other = Store(store.engine.url)  # a second process: writes the kept store never sees
    kept = Store(store.engine.url)
    kept.keep_registers()
    try:
        _import(store, tmp_path, calendar, T0, *DAYS)
        _same(_read(kept, calendar, T0, None), _read(store, calendar, T0, None))
        day2 = T0 + timedelta(days=1)
        _import(other, tmp_path, calendar, day2, *NEXT_DAY)
        asked = (T0, day2 + timedelta(hours=1), date(2025, 9, 4))
        _same(_read(kept, calendar, day2, asked), _read(store, calendar, day2, asked))
        day3 = T0 + timedelta(days=2)
        _import(other, tmp_path, calendar, day3, *AMENDMENT)
        asked = (day2, day3 + timedelta(hours=1), date(2025, 9, 5))
        fresh = _read(store, calendar, day3, asked)
        assert fresh.amended == {"P2"}  # the amendment is seen, and said to be one
        _same(_read(kept, calendar, day3, asked), fresh)
        # as known before the amendment was recorded: the kept rows still answer the past
        _same(_read(kept, calendar, day2, None), _read(store, calendar, day2, None))
    finally:
        other.dispose()
        kept.dispose()


def test_a_kept_register_asks_the_store_only_for_rows_of_imports_it_has_not_seen(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[int] = []
    real = marks_reader.fetch

    def counting(conn: object, sql: str, schema: pa.Schema, **how: bool) -> pa.Table:
        rows = real(conn, sql, schema, **how)  # type: ignore[arg-type]
        fetched.append(rows.num_rows)
        return rows

    monkeypatch.setattr(marks_reader, "fetch", counting)
    store.keep_registers()
    _import(store, tmp_path, calendar, T0, *DAYS)
    _read(store, calendar, T0, None)
    _read(store, calendar, T0, None)
    other = Store(store.engine.url)  # another process's import: its rows are not handed over
    try:
        _import(other, tmp_path, calendar, T0 + timedelta(days=1), *NEXT_DAY)
    finally:
        other.dispose()
    _read(store, calendar, T0 + timedelta(days=1), None)
    # oaks' rows: whole; then no new import, so no query; then the new day's rows only
    assert fetched == [2, 2]
    assert store.registers_kept is not None and store.registers_kept.rows == 4


def _counted_fetches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    fetched: list[int] = []
    real = marks_reader.fetch

    def counting(conn: object, sql: str, schema: pa.Schema, **how: bool) -> pa.Table:
        rows = real(conn, sql, schema, **how)  # type: ignore[arg-type]
        fetched.append(rows.num_rows)
        return rows

    monkeypatch.setattr(marks_reader, "fetch", counting)
    return fetched


def _same_rows(kept: KeptMarks | None, whole: KeptMarks | None) -> None:
    assert kept is not None and whole is not None
    for name in ("pupil_id", "session", "code", "recorded_at", "minutes_late", "import_id"):
        assert np.array_equal(getattr(kept, name), getattr(whole, name)), name
        assert getattr(kept, name).dtype == getattr(whole, name).dtype, name
    assert kept.imports == whole.imports


NEW_ROWS_UNTIMED = [  # no recorded_at: stored as recorded at the import's now
    "oaks,P2,2025-09-04,PM,/,,",
    "oaks,P1,2025-09-04,PM,B,,",
    "pines,P1,2025-09-04,AM,/,,2025-09-04T08:50:00+01:00",
]


def test_an_import_through_the_kept_store_hands_its_rows_over_so_the_next_read_asks_for_none(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = _counted_fetches(monkeypatch)
    store.keep_registers()
    _import(store, tmp_path, calendar, T0, *DAYS)
    _read(store, calendar, T0, None)  # the daemon's first evening: oaks read whole
    day2 = T0 + timedelta(days=1)
    _import(store, tmp_path, calendar, day2, *NEXT_DAY, *AMENDMENT, *NEW_ROWS_UNTIMED)
    asked = (T0, day2 + timedelta(hours=1), date(2025, 9, 4))
    got = _read(store, calendar, day2 + timedelta(hours=1), asked)
    assert fetched == [2]  # the whole first read only: the import's rows came with it
    fresh = Store(store.engine.url)
    fresh.keep_registers()
    try:
        _same(got, _read(fresh, calendar, day2 + timedelta(hours=1), asked))
        assert got.amended == {"P2"}
        assert store.registers_kept is not None and fresh.registers_kept is not None
        kept, whole = store.registers_kept, fresh.registers_kept
        _same_rows(kept.get("oaks", calendar), whole.get("oaks", calendar))
    finally:
        fresh.dispose()


def test_an_import_whose_rows_were_not_all_new_leaves_the_school_to_a_read_of_the_store(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row already stored is skipped by the store: the kept rows cannot say which, so the
    next read asks the store for that import's rows, and a school the import did not touch
    asks for nothing."""
    fetched = _counted_fetches(monkeypatch)
    store.keep_registers()
    _import(store, tmp_path, calendar, T0, *DAYS)
    _read(store, calendar, T0, None)
    with store.register_reader() as reader:
        reader.read("pines", calendar, T0)
    day2 = T0 + timedelta(days=1)
    _import(store, tmp_path, calendar, day2, DAYS[0], *NEXT_DAY)  # oaks' P1 again, and new
    got = _read(store, calendar, day2, None)
    with store.register_reader() as reader:
        reader.read("pines", calendar, day2)
    assert fetched == [2, 1, 2]  # oaks whole, pines whole, then oaks' new import's two rows
    plain = Store(store.engine.url)
    try:
        _same(got, _read(plain, calendar, day2, None))
    finally:
        plain.dispose()


def test_registers_read_ahead_in_the_helper_are_kept_and_brought_up_to_date(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    kept = Store(store.engine.url)
    kept.keep_registers()
    try:
        _import(store, tmp_path, calendar, T0, *DAYS)
        with kept.register_reader() as reader:
            reader.ahead("oaks", calendar, T0)
            # imported after the helper was asked: the read still sees it
            _import(store, tmp_path, calendar, T0 + timedelta(days=1), *NEXT_DAY)
            got = reader.read("oaks", calendar, T0 + timedelta(days=1))
        _same(got, _read(store, calendar, T0 + timedelta(days=1), None))
        assert "P3" in got.grid.pupils
    finally:
        kept.dispose()


def test_a_register_read_ahead_with_nothing_imported_since_is_kept_for_the_next_evening(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's evening: its import, then every register asked ahead. What the helper read
    is kept, so the next evening (after the day's import through the same store) asks neither
    the helper nor the store for rows."""
    fetched = _counted_fetches(monkeypatch)
    _import(store, tmp_path, calendar, T0, *DAYS)
    store.keep_registers()
    with store.register_reader() as reader:
        reader.ahead("oaks", calendar, T0)
        first = reader.read("oaks", calendar, T0)
    assert fetched == []  # read in the helper
    plain = Store(store.engine.url)
    _same(first, _read(plain, calendar, T0, None))
    day2 = T0 + timedelta(days=1)
    _import(store, tmp_path, calendar, day2, *NEXT_DAY)
    helped: list[str] = []
    submit = RegisterReader._submit_kept

    def counting(reader: RegisterReader, ask: Any) -> Future[KeptMarks]:
        helped.append(ask.school)
        return submit(reader, ask)

    monkeypatch.setattr(RegisterReader, "_submit_kept", counting)
    with store.register_reader() as reader:
        reader.ahead("oaks", calendar, day2)
        got = reader.read("oaks", calendar, day2)
    assert helped == [] and fetched == []
    try:
        _same(got, _read(plain, calendar, day2, None))
    finally:
        plain.dispose()


# -- the merge, as a property ----------------------------------------------------------------

_row = st.tuples(
    st.integers(1, 4),  # pupil id
    st.integers(0, 5),  # session
    st.sampled_from(range(len(CODE_OF_ID))),  # code id
    st.sampled_from([0, 1, 2, 3, 1 << 60]),  # few values: ties are common (and one huge)
    st.integers(-1, 30),  # minutes late
)


def _kept(rows: list[tuple[int, int, int, int, int]], import_id: int) -> KeptMarks:
    """``rows`` as ``kept_of`` decodes them from the store, in the store's order."""
    return kept_of("oaks", _CALENDAR, _table(rows, import_id))


def _table(rows: list[tuple[int, int, int, int, int]], import_id: int) -> pa.Table:
    """``rows`` as the store gives them (``KEPT_SCHEMA``), in its order."""
    ordered = sorted(rows, key=lambda r: (r[0], r[1], r[3], CODE_OF_ID[r[2]]))
    return pa.table(
        {
            "pupil_id": [r[0] for r in ordered],
            "mark": [_mark_text(r[1], r[2]) for r in ordered],
            "minutes": [r[4] for r in ordered],
            "recorded_at": [r[3] for r in ordered],
            "import_id": [import_id] * len(ordered),
        },
        schema=KEPT_SCHEMA,
    )


def _mark_text(session: int, code: int) -> str:
    day = _CALENDAR.school_days[session // 2].isoformat()
    return f"{day}{'AM' if session % 2 == 0 else 'PM'}{CODE_OF_ID[code]}"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_row, max_size=12, unique_by=lambda r: r[:4]), min_size=1, max_size=4))
def test_rows_kept_import_by_import_are_in_the_order_one_read_of_them_all_gives(
    imports: list[list[tuple[int, int, int, int, int]]],
) -> None:
    """The store's primary key: a (pupil, session, recorded_at, code) is stored once."""
    seen: set[tuple[int, int, int, int]] = set()
    unique = []
    for rows in imports:
        unique.append([r for r in rows if r[:4] not in seen and not seen.add(r[:4])])
    kept = _kept(unique[0], 1)
    for n, rows in enumerate(unique[1:], start=2):
        kept = kept.with_rows(_kept(rows, n))
    whole = _kept([r for rows in unique for r in rows], 0)
    for name in ("pupil_id", "session", "code", "recorded_at", "minutes_late"):
        assert np.array_equal(getattr(kept, name), getattr(whole, name)), name
    names = {i: f"P{i}" for i in range(1, 5)}
    assert kept.mark_table(names).pupils == whole.mark_table(names).pupils


@settings(max_examples=40, deadline=None)
@given(st.lists(_row, max_size=12, unique_by=lambda r: r[:4]), st.randoms(use_true_random=False))
def test_rows_that_came_out_of_order_are_kept_in_load_order(
    rows: list[tuple[int, int, int, int, int]], shuffler: Any
) -> None:
    """``bulk.fetch`` may be asked for a kept read's rows in whatever order the server
    aggregates them (``unordered``): ``kept_of`` gives the rows the ordered read gives."""
    ordered = _kept(rows, 1)
    table = _table(rows, 1)
    shuffled = table.take(pa.array(shuffler.sample(range(len(rows)), len(rows)), pa.int64()))
    _same_rows(kept_of("oaks", _CALENDAR, shuffled), ordered)


def test_a_kept_read_sent_as_arrays_gives_the_rows_copy_gives(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    """PostgreSQL's kept reads come as one row of binary arrays (``bulk._fetch_arrays``): the
    same table as ``COPY``'s CSV, stored codes with a comma, quotes and a character of two bytes
    in them too (a text column is cut by its values' byte lengths)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("arrays are PostgreSQL's way; SQLite reads rows")
    _import(store, tmp_path, calendar, T0, *DAYS, *NEW_ROWS_UNTIMED)
    with store.engine.begin() as conn:  # as if edited behind the service's back
        conn.exec_driver_sql("UPDATE marks SET code = 'a,\"b' WHERE code = 'N'")
        conn.exec_driver_sql("UPDATE marks SET code = 'é' WHERE code = 'B'")
        sid = conn.exec_driver_sql("SELECT id FROM schools WHERE key = 'oaks'").scalar_one()
    sql = kept_sql("postgresql", sid, calendar)
    with store.engine.begin() as conn:
        rows = bulk.fetch(conn, sql, KEPT_SCHEMA)
    with store.engine.begin() as conn:
        arrays = bulk.fetch(conn, sql, KEPT_SCHEMA, unordered=True)
    marks = "".join(rows.column("mark").to_pylist())
    assert 'a,"b' in marks and "é" in marks
    assert arrays.equals(rows) and rows.num_rows == 4


def test_a_kept_read_of_no_rows_or_a_null_gives_what_copy_gives(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    """No rows give the empty table; a NULL (which no load column has) is read by ``COPY``."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("arrays are PostgreSQL's way; SQLite reads rows")
    _import(store, tmp_path, calendar, T0, *DAYS)
    with store.engine.connect() as conn:
        sid = conn.exec_driver_sql("SELECT id FROM schools WHERE key = 'oaks'").scalar_one()
    sql = kept_sql("postgresql", sid, calendar)
    nothing = sql.replace(" ORDER BY ", " AND false ORDER BY ")
    with_null = sql.replace("coalesce(minutes_late, -1)", "nullif(coalesce(minutes_late, -1), -1)")
    with store.engine.begin() as conn:
        assert bulk.fetch(conn, nothing, KEPT_SCHEMA, unordered=True).num_rows == 0
    with store.engine.begin() as conn:
        copied = bulk.fetch(conn, with_null, KEPT_SCHEMA)
    with store.engine.begin() as conn:
        assert bulk.fetch(conn, with_null, KEPT_SCHEMA, unordered=True).equals(copied)
    assert copied.column("minutes").null_count > 0


@pytest.mark.parametrize(
    "edit",
    [
        None,
        "UPDATE marks SET minutes_late = -32768 WHERE code = 'L'",
        "UPDATE marks SET code = 'a,b' WHERE code = 'N'",
        "UPDATE marks SET code = 'Zz' WHERE code = 'N'",
        "UPDATE marks SET session = 'XX' WHERE code = 'N'",
        "UPDATE marks SET date = '2025-09-06' WHERE code = 'N'",  # a Saturday
    ],
    ids=["as-stored", "least-minutes", "comma-code", "unknown-code", "odd-session", "no-school"],
)
def test_a_whole_read_packed_by_the_server_gives_the_kept_read_rows(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, edit: str | None
) -> None:
    """PostgreSQL's whole read in the helper (``kept_arrays_sql``: day, session and pupil in
    one number, the codes run together) decodes to ``kept_of``'s rows of the text read; rows
    edited behind the service's back that only the text read decodes (or refuses) as before
    are left to it (None), and the helper's read then gives the text read's rows or error."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the packed read is PostgreSQL's; SQLite reads rows")
    _import(store, tmp_path, calendar, T0, *DAYS, *NEW_ROWS_UNTIMED)
    _import(store, tmp_path, calendar, T0 + timedelta(days=1), *NEXT_DAY, *AMENDMENT)
    with store.engine.begin() as conn:
        if edit is not None:
            conn.exec_driver_sql(edit)
        sid = conn.exec_driver_sql("SELECT id FROM schools WHERE key = 'oaks'").scalar_one()
    with store.engine.begin() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor(binary=True) as cursor:
            cursor.execute(kept_arrays_sql(sid, calendar))
            packed = kept_of_arrays("oaks", calendar, cursor.fetchone())
    with store.engine.begin() as conn:
        rows = bulk.fetch(conn, kept_sql("postgresql", sid, calendar), KEPT_SCHEMA)
    text: KeptMarks | None = None
    refused: type[Exception] = Exception
    try:
        text = kept_of("oaks", calendar, rows)
    except (StoreError, CalendarError) as exc:  # the text read refuses the edit: so must
        refused = type(exc)  # the helper's
    if edit is None or "minutes" in edit:
        _same_rows(packed, text)
    else:
        assert packed is None
    store.keep_registers()
    with store.register_reader() as reader:
        reader.ahead("oaks", calendar, T0 + timedelta(days=2))
        job = reader._queued_kept["oaks"]
        if text is None:
            with pytest.raises(refused):
                job.result()
        else:
            _same_rows(job.result(), text)


def test_reading_at_an_instant_before_now_uses_the_same_kept_rows() -> None:
    """A timestamp guard: kept rows carry every version, the grid picks by ``known_at``."""
    kept = _kept([(1, 0, 1, 5, -1), (1, 0, 2, 9, -1)], 1)
    table = kept.mark_table({1: "P1"})
    early = marks_reader.grid_of(table, _CALENDAR, datetime.fromtimestamp(7e-6, UTC), _roster())
    late = marks_reader.grid_of(table, _CALENDAR, datetime.fromtimestamp(1e-5, UTC), _roster())
    assert early.codes[0, 0] == 1 and late.codes[0, 0] == 2


def test_a_register_read_ahead_in_the_helper_is_the_one_read_here(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    """A store that keeps no registers reads ahead in the helper (on PostgreSQL as the kept
    read's rows, put in load order there): the same register, late marks and amended pupils
    as the read in this process, as known before and after an amendment."""
    _import(store, tmp_path, calendar, T0, *DAYS)
    day2, day3 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    _import(store, tmp_path, calendar, day2, *NEXT_DAY)
    _import(store, tmp_path, calendar, day3, *AMENDMENT)
    asked = (day2, day3 + timedelta(hours=1), date(2025, 9, 5))
    early = datetime(2025, 9, 4, 9, 0, tzinfo=UTC)  # before the amendment and P3's mark
    reads = {}
    for at, amended in ((day3, asked), (early, None)):
        with store.register_reader() as reader:
            reader.ahead("oaks", calendar, at, amended)
            ahead = reader.read("oaks", calendar, at, amended)
        here = _read(store, calendar, at, amended)
        _same(ahead, here)
        assert ahead.grid.later_marks == here.grid.later_marks
        for name in ("first_session", "last_session", "school_age_from", "school_age_until"):
            assert np.array_equal(
                getattr(ahead.grid.enrolment, name), getattr(here.grid.enrolment, name)
            )
        reads[at] = ahead
    assert reads[day3].amended == {"P2"}  # the amendment is seen, and said to be one
    assert reads[early].grid.later_marks  # the marks recorded after it are left out
    assert not reads[day3].grid.later_marks
    assert not np.array_equal(reads[day3].grid.codes, reads[early].grid.codes)


@pytest.mark.parametrize("in_order", [True, False], ids=["store-order", "out-of-order"])
def test_a_kept_table_names_its_pupils_as_a_sorted_unique_of_their_ids(in_order: bool) -> None:
    """``mark_table`` finds the pupils where the (sorted) ids change; rows whose ids are not in
    order (never from the store) still give ``np.unique``'s pupils and positions."""
    kept = _kept([(7, 0, 1, 5, -1), (3, 1, 2, 6, -1), (7, 2, 1, 7, -1), (12, 0, 1, 5, -1)], 1)
    if not in_order:
        kept = dataclasses.replace(kept, pupil_id=kept.pupil_id[::-1].copy())
    ids, positions = np.unique(kept.pupil_id, return_inverse=True)
    table = kept.mark_table({3: "P3", 7: "P7", 12: "P12"})
    assert table.pupils == tuple(f"P{i}" for i in ids)
    assert table.pupil.tolist() == positions.tolist()
    assert (table.pupil.tolist() == [0, 1, 1, 2]) is in_order


def _roster() -> marks_reader.Roster:
    return marks_reader.Roster("oaks")


@pytest.mark.parametrize("keep", [False, True], ids=["plain", "kept"])
def test_a_register_asked_ahead_after_a_helper_died_is_read_by_new_helpers(
    store: Store,
    tmp_path: Path,
    calendar: SchoolCalendar,
    monkeypatch: pytest.MonkeyPatch,
    keep: bool,
) -> None:
    """The daemon starts its helpers when its store opens and keeps them for its life: one
    killed meanwhile (the OOM killer, an operator) must not fail every evening after it."""
    _import(store, tmp_path, calendar, T0, *DAYS)
    monkeypatch.setattr(marks_reader, "_helper", None)  # as in a new process
    reader_store = Store(store.engine.url)
    if keep:
        reader_store.keep_registers()
    try:
        marks_reader.start_helpers(reader_store)
        pool = marks_reader._helper
        assert pool is not None
        pool.submit(int).result(timeout=60)  # the helpers are up
        os.kill(next(iter(pool._processes.values())).pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not pool._broken and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool._broken
        with reader_store.register_reader() as reader:
            reader.ahead("oaks", calendar, T0)
            got = reader.read("oaks", calendar, T0)
        _same(got, _read(store, calendar, T0, None))
    finally:
        reader_store.dispose()
        if marks_reader._helper is not None:
            marks_reader._helper.shutdown(wait=True)


@pytest.mark.parametrize("seed", range(20))
def test_the_pupils_of_kept_rows_in_order_or_not_are_the_distinct_ids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.integers(0, 50, int(rng.integers(0, 200)))).astype(np.int64)
    assert _distinct(ids).tolist() == np.unique(ids).tolist()
    shuffled = rng.permutation(ids)
    assert _distinct(shuffled).tolist() == np.unique(shuffled).tolist()
