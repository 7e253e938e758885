"""The fast ways in and out of the ``marks`` table, one per database.

In: SQLite takes multi-row ``INSERT``s through the driver's ``executemany`` (binding is the
cost, so school and import ids are literals); PostgreSQL takes binary ``COPY`` (``copy_binary``)
made from the columns. Out: SQLite files are read through ADBC straight into Arrow columns (the sqlite3 module
builds a Python tuple per row, several times slower); PostgreSQL through ``COPY ... TO STDOUT``.
An in-memory SQLite database is read the plain, slower way.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from escalation_flow.adapters.store import copy_binary as cb
from escalation_flow.adapters.store.marks_io import (
    LOADED_SCHEMA,
    STAGING,
    StoredColumns,
    insert_statements,
)
from escalation_flow.adapters.store.pg_arrays import fetch_arrays
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, MarkTable, to_micros
from escalation_flow.errors import StoreError

#: Rows per INSERT statement: each execution has a fixed cost (about 15 µs), so fewer,
#: longer statements (SQLite allows 32,766 bound values in one).
_ROWS_PER_INSERT = 200
#: Bound for a NULL: no mark's time, minutes late or MIS user can be this number (times are
#: microseconds since 1970, minutes are 0 or more, names are text), and ``nullif`` turns it
#: back into NULL. Comparing text with an integer in SQLite is never equal, so a name is safe.
_NONE = -(2**62)
_NULL_IF = f"nullif(?,{_NONE})"
#: Rows per piece of a PostgreSQL COPY (a few MB).
_ROWS_PER_COPY = 50_000
#: Rows of one school a PostgreSQL import copies into ``marks`` without first asking whether
#: any is stored (``_copied``): a day of a large school's two sessions is about 4,000, ten
#: days 20,000; a ``COPY`` refused after all costs about what the staging way costs anyway.
_TRY_COPY_ROWS = 20_000
#: Rows from which a first import into an empty ``marks`` builds the key after (``key_built_after``):
#: below, the time saved is too small to hold the whole table for it.
_KEY_AFTER_ROWS = 100_000
_BOUND = ("pupil_id", "date", "session", "recorded_at", "code", "minutes_late")
_SESSIONS = [b"AM", b"PM"]
_CODE_BYTES = [c.encode() for c in CODE_OF_ID]


def insert_marks(
    connection: Connection,
    cols: StoredColumns,
    now: dt.datetime,
    import_id: int,
    *,
    fresh: bool = False,
) -> int:
    """Add one school's marks to ``marks``, skipping those already stored; how many were new.
    ``fresh``: ``key_built_after`` said the table is empty and this transaction's alone, so
    every row is new and goes straight in."""
    dialect = connection.dialect.name
    if dialect != "sqlite" and not (dialect == "postgresql" and _is_psycopg(connection)):
        raise StoreError(f"marks cannot be imported into a {dialect} database")
    if fresh:
        _stage_copy(_driver(connection), cols, into="marks", stamp=(now, import_id))
        return len(cols)
    known, unknown = insert_statements(dialect, now, import_id)
    given = cols.recorded_at != UNKNOWN_RECORDED_AT
    added = 0
    if dialect == "postgresql" and given.all() and _copied(connection, cols, now, import_id):
        return len(cols)
    if dialect == "sqlite" and given.any():
        # Straight into the table: staging first would cost a second pass over every row.
        rows = cols if given.all() else cols.where(given)
        added += _insert_sqlite(_driver(connection), rows, now, import_id)
    staged = cols.where(~given) if dialect == "sqlite" else cols
    if not len(staged):
        return added
    STAGING.drop(connection, checkfirst=True)
    STAGING.create(connection)
    if dialect == "sqlite":
        _insert_sqlite(_driver(connection), staged, None, None)
    else:
        _stage_copy(_driver(connection), staged)
        # Without statistics the planner may anti-join the whole marks table.
        connection.exec_driver_sql("ANALYZE incoming_marks")
        if given.any():
            added += connection.execute(known).rowcount
    if not given.all():
        added += connection.execute(unknown).rowcount
    STAGING.drop(connection)
    return added


def _copied(connection: Connection, cols: StoredColumns, now: dt.datetime, import_id: int) -> bool:
    """A few days' marks (a daemon's day file), or a school with no marks yet (its first
    import, a year's back-fill): ``COPY`` straight into ``marks``, without the staging table,
    its ``ANALYZE`` and the ``INSERT ... SELECT`` that skips rows already stored. False,
    nothing written, when a row is there after all (a file sent again, an import of the same
    school committed meanwhile): the key refuses the ``COPY`` and the caller takes the staging
    way. Few rows are tried without asking first: a refused ``COPY`` of a few days costs less
    than a look for stored rows that could conflict (a probe of the key per pupil, 5 to 18 ms
    a school); many rows are tried only into an empty school."""
    if len(cols) > _TRY_COPY_ROWS:
        empty = f"SELECT NOT EXISTS (SELECT 1 FROM marks WHERE school_id = {int(cols.school_id)})"
        if not connection.exec_driver_sql(empty).scalar():
            return False
    try:
        with connection.begin_nested():
            _stage_copy(_driver(connection), cols, into="marks", stamp=(now, import_id))
    except (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError):
        # the driver's own: the COPY goes to psycopg directly, not through SQLAlchemy
        return False
    return True


@contextmanager
def key_built_after(connection: Connection, tables: Iterable[MarkTable]) -> Iterator[bool]:
    """Around one import's writes: True when ``marks``' primary key was dropped for them, to be
    built again after them (the ``ALTER TABLE``s are in the import's transaction: a failed
    import leaves the key as it was).

    Building the key once from the loaded rows is a sort; keeping it while they go in is a
    b-tree insertion and a uniqueness check a row: the server's time for the benchmark trust's
    year (7.65M marks) falls from about 12 to 7 CPU-seconds. Only on PostgreSQL, for a large
    import (``_KEY_AFTER_ROWS``) whose every row has its ``recorded_at`` (the others are checked
    against the stored marks, which needs the key), into a ``marks`` with no row at all (a
    trust's first back-fill), and only when the table's lock is to be had at once: no other
    transaction is using it. Meanwhile the table is this transaction's alone (readers wait for
    the commit), and so every row is new: nobody else can write one."""
    rows = 0
    for table in tables:
        if (table.recorded_at == UNKNOWN_RECORDED_AT).any():
            rows = -1
            break
        rows += len(table)
    if rows < _KEY_AFTER_ROWS or not _is_psycopg(connection) or not _empty(connection):
        yield False
        return
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("LOCK TABLE marks IN ACCESS EXCLUSIVE MODE NOWAIT")
    except OperationalError:  # another transaction has the table: the usual way
        yield False
        return
    key = connection.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'marks'::regclass AND contype = 'p'"
    ).one_or_none()
    # Rows committed between the first look and the lock: the usual way.
    if key is None or not _empty(connection):
        yield False
        return
    name, definition = key
    connection.exec_driver_sql(f'ALTER TABLE marks DROP CONSTRAINT "{name}"')
    yield True
    connection.exec_driver_sql(f'ALTER TABLE marks ADD CONSTRAINT "{name}" {definition}')


def _empty(connection: Connection) -> bool:
    return not connection.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM marks)").scalar()


def _is_psycopg(connection: Connection) -> bool:
    return connection.dialect.driver == "psycopg"


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def fetch(
    connection: Connection, sql: str, schema: pa.Schema = LOADED_SCHEMA, *, unordered: bool = False
) -> pa.Table:
    """Run a marks query (``marks_io.load_sql``) and return its rows as ``schema`` (the load's
    columns, or ``kept_registers.KEPT_SCHEMA``'s). ``unordered``: the caller puts the rows in
    order itself if they are not (``kept_registers.kept_of``), so PostgreSQL may send them as
    one row of arrays (``_fetch_arrays``)."""
    dialect = connection.dialect.name
    if dialect == "postgresql" and _is_psycopg(connection) and unordered:
        rows = _fetch_arrays(connection, sql, schema)
    elif dialect == "postgresql" and _is_psycopg(connection):
        rows = _fetch_copy(connection, sql, schema)
    else:
        # SQLite is read through the connection's own library, never adbc's (``_fetch_adbc``):
        # adbc bundles a second SQLite, and when it unlocks the file it drops every POSIX lock
        # this process holds on it; another process may then think it is the last one, and
        # checkpoint and delete the WAL under our open connections (lost commits, SIGBUS).
        packed = _fetch_sqlite_packed(connection, sql) if schema.equals(LOADED_SCHEMA) else None
        rows = packed if packed is not None else _fetch_sqlite_rows(connection, sql, schema)
    if rows.num_rows == 0:
        return schema.empty_table()
    return rows.rename_columns(schema.names).cast(schema)


def _fetch_sqlite_rows(connection: Connection, sql: str, schema: pa.Schema) -> pa.Table:
    result = connection.exec_driver_sql(sql).all()
    columns: list[Any] = list(zip(*result, strict=True)) if result else [[]] * len(schema)
    return pa.table(
        [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def _fetch_sqlite_packed(connection: Connection, sql: str) -> pa.Table | None:
    """A load's rows (``LOADED_SCHEMA``) as one text that SQLite joins and pyarrow parses.

    A Python tuple and four objects a row was two thirds of a school's load: SQLite joins the
    rows in C with the GIL released (so two schools load at once) and pyarrow's CSV reader
    splits them. The texts cannot hold the separators (a mark is ``date || session || code``,
    codes checked on import); any that did make the parse fail, and the caller reads rows.
    The rows are put in ``load_sql``'s order here, not trusted to ``group_concat``, whose order
    SQLite does not promise (the key is the table's primary key, so the order is total).
    """
    line = "pupil_id || ',' || mark || ',' || minutes || ',' || recorded_at"
    try:
        text = connection.exec_driver_sql(
            f"SELECT group_concat({line}, char(10)) FROM ({sql})"
        ).scalar()
    except (DataError, OperationalError):  # a text longer than SQLite allows (SQLITE_TOOBIG:
        return None  # the sqlite3 module raises DataError, "string or blob too big")
    if text is None:
        return LOADED_SCHEMA.empty_table()
    try:
        rows = pv.read_csv(
            io.BytesIO(text.encode()),
            read_options=pv.ReadOptions(column_names=LOADED_SCHEMA.names),
            parse_options=pv.ParseOptions(quote_char=False, escape_char=False),
            convert_options=pv.ConvertOptions(
                column_types=LOADED_SCHEMA,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    mark = rows.column("mark")
    keys = rows.append_column("slot", pc.utf8_slice_codeunits(mark, 0, 12)).append_column(
        "code", pc.utf8_slice_codeunits(mark, 12, 64)
    )
    order = pc.sort_indices(
        keys, [(k, "ascending") for k in ("pupil_id", "slot", "recorded_at", "code")]
    )
    return rows.take(order)


def _insert_sqlite(
    dbapi: Any, cols: StoredColumns, now: dt.datetime | None, import_id: int | None
) -> int:
    """Multi-row INSERTs: into ``marks`` (``now`` given) or else into the staging table.

    Binding is most of the cost, and the sqlite3 module binds ``None`` some five times slower
    than an int (it looks for an adapter first): a missing value is bound as a number that
    cannot be one (``_NONE``) and turned into NULL by ``nullif`` in the statement."""
    n = len(cols)
    columns: list[list[Any]] = [
        cols.pupil_id.tolist(),
        cols.date_texts().tolist(),
        cols.session_texts().tolist(),
        _or_none(cols.recorded_at, UNKNOWN_RECORDED_AT),
        cols.code_texts().tolist(),
        _or_none(cols.minutes_late, -1),
    ]
    names = list(_BOUND)
    # Which bound values stand for NULL when they are _NONE (the others never do).
    marks = ["?", "?", "?", _NULL_IF, "?", _NULL_IF]
    by = cols.recorder_texts()
    if by is not None:  # only then: a file without names binds no more than before
        columns.append(np.where(by == None, _NONE, by).tolist())  # noqa: E711 (elementwise)
        names.append("recorded_by")
        marks.append(_NULL_IF)
    width = len(columns)
    flat: list[Any] = [None] * (width * n)
    for k, column in enumerate(columns):
        flat[k::width] = column
    values = f"{int(cols.school_id)},{','.join(marks)}"
    if now is None:
        into = f"INSERT INTO temp.incoming_marks (school_id, {', '.join(names)}) VALUES "
        row = f"({values})"
    else:
        into = (
            f"INSERT OR IGNORE INTO marks (school_id, {', '.join(names)}, imported_at, import_id) "
            "VALUES "
        )
        row = f"({values},{to_micros(now)},{int(import_id or 0)})"
    per = width * _ROWS_PER_INSERT
    full = (n // _ROWS_PER_INSERT) * per
    added = 0
    cursor = dbapi.cursor()
    try:
        if full:
            statement = into + ",".join([row] * _ROWS_PER_INSERT)
            cursor.executemany(statement, (flat[i : i + per] for i in range(0, full, per)))
            added += cursor.rowcount
        if full < len(flat):
            cursor.execute(into + ",".join([row] * ((len(flat) - full) // width)), flat[full:])
            added += cursor.rowcount
    finally:
        cursor.close()
    return added


def _or_none(values: npt.NDArray[np.int64], missing: int) -> list[int]:
    """``values`` as Python ints, ``_NONE`` where they equal ``missing`` (see ``_NULL_IF``)."""
    out: list[int] = np.where(values == missing, _NONE, values).tolist()
    return out


def _stage_copy(
    dbapi: Any,
    cols: StoredColumns,
    into: str = "incoming_marks",
    stamp: tuple[dt.datetime, int] | None = None,
) -> None:
    """``COPY`` the rows (binary, ``copy_binary``) into the staging table, or (``stamp``: when
    and by which import they were imported) straight into ``into``.

    Rows with their own ``recorded_at`` go first, in the order given, then those without
    (NULL): a row's fixed-width fields come first, so the time is the last of those."""
    known = cols.recorded_at != UNKNOWN_RECORDED_AT
    names = ["school_id", "pupil_id", "date"]
    if stamp is not None:
        names += ["imported_at", "import_id"]
    names += ["recorded_at", "session", "code", "minutes_late"]
    if cols.recorded_by is not None:
        names.append("recorded_by")
    statement = f"COPY {into} ({', '.join(names)}) FROM STDIN WITH (FORMAT binary)"
    with dbapi.cursor() as cursor, cursor.copy(statement, writer=_queued(cursor)) as copy:
        # A slice at a time, sent by psycopg's writer thread: the server parses and stores one
        # while the next is made here.
        copy.write(cb.HEADER)
        parts = [(cols, True)] if known.all() else [(cols.where(known), True),
                                                     (cols.where(~known), False)]  # fmt: skip
        for rows, with_time in parts:
            if len(rows):
                for piece in _binary_pieces(rows, with_time, stamp):
                    copy.write(piece)
        copy.write(cb.TRAILER)


def _binary_pieces(
    cols: StoredColumns, with_time: bool, stamp: tuple[dt.datetime, int] | None
) -> Iterator[memoryview]:
    """The rows of ``_stage_copy``'s statement: ``with_time``, every row has its
    ``recorded_at``; else none has (NULL)."""
    days = cb.pg_days(cols.days)
    fixed = [
        cb.Fixed(">i4", int(cols.school_id)),
        cb.Fixed(">i4", cols.pupil_id),
        cb.Fixed(">i4", days[cols.session // 2]),
    ]
    if stamp is not None:
        fixed += [cb.Fixed(">i8", cb.pg_micros(to_micros(stamp[0]))), cb.Fixed(">i4", stamp[1])]
    few = [
        cb.Few(_SESSIONS, cols.session % 2),
        cb.Few(_CODE_BYTES, cols.code),
        # minutes late: -1 (none) is index 0, NULL
        cb.Few([None, *(cb.int2(m) for m in range(int(cols.minutes_late.max(initial=-1)) + 1))],
               cols.minutes_late + 1),
    ]  # fmt: skip
    if with_time:
        fixed.append(cb.Fixed(">i8", cb.pg_micros(cols.recorded_at)))
    else:
        few.insert(0, cb.Few([None], np.zeros(len(cols), dtype=np.int64)))
    if cols.recorded_by is not None:
        # None (index -1, not given) last, so that -1 picks it.
        names = [*(cb.text(r) for r in cols.recorders), None]
        few.append(cb.Few(names, np.where(cols.recorded_by < 0, len(names) - 1, cols.recorded_by)))
    return cb.pieces(fixed, few, len(cols), _ROWS_PER_COPY)


def _queued(cursor: Any) -> Any:
    from psycopg.copy import QueuedLibpqWriter  # PostgreSQL only

    return QueuedLibpqWriter(cursor)


def _fetch_adbc(path: Path, sql: str) -> pa.Table:
    """Unused: unsafe in a process that also has the file open through ``sqlite3`` (see
    ``fetch``); about 3x faster, so worth keeping for a reader in a process of its own."""
    import adbc_driver_sqlite.dbapi as adbc  # only SQLite files need it

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    with adbc.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        table: pa.Table = cursor.fetch_arrow_table()
    return table


def _fetch_arrays(connection: Connection, sql: str, schema: pa.Schema) -> pa.Table:
    """The rows as one row of binary values the server makes: each number column one array
    (``array_send``), each text column its values run together with an array of their byte
    lengths. ``COPY ... TO STDOUT`` hands each row to the client as its own message (psycopg's
    loop over a school's 232,000 was 0.27 CPU-s); a CSV made as one value (``string_agg``)
    cost the server the text of every number and instant and the client their parsing (a
    school of 256,000 marks: server 0.42-0.47 against 0.36-0.38 CPU-s, client 0.10-0.19
    against 0.03-0.06). The
    aggregates read the subquery's rows in one pass, so their values line up; the rows come in
    its order as PostgreSQL aggregates them (nothing joined), which the standard does not
    promise: ``unordered``. A NULL (no load column has one) is read by ``_fetch_copy``."""
    # ``date::text`` in the load's text columns follows the session's DateStyle
    connection.exec_driver_sql("SET LOCAL DateStyle = 'ISO, YMD'")
    rows = fetch_arrays(_driver(connection), sql, schema)
    return _fetch_copy(connection, sql, schema) if rows is None else rows


def _csv_rows(buffer: io.BytesIO, schema: pa.Schema) -> pa.Table:
    types = dict(zip(schema.names, schema.types, strict=True))
    types["recorded_at"] = pa.timestamp("us", "UTC")
    rows = pv.read_csv(
        buffer,
        read_options=pv.ReadOptions(column_names=schema.names),
        convert_options=pv.ConvertOptions(column_types=types),
    )
    return rows.set_column(3, "recorded_at", rows.column("recorded_at").cast(pa.int64()))


def _fetch_copy(connection: Connection, sql: str, schema: pa.Schema = LOADED_SCHEMA) -> pa.Table:
    # Times in UTC and dates in ISO form, whatever the server's defaults (this transaction only).
    connection.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    connection.exec_driver_sql("SET LOCAL DateStyle = 'ISO, YMD'")
    buffer = io.BytesIO()
    with (
        _driver(connection).cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    if not buffer.tell():
        return schema.empty_table()
    buffer.seek(0)
    return _csv_rows(buffer, schema)
