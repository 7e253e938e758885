"""What a register helper process runs (``marks_reader``'s pool), importing little (issue 13).

A helper is spawned, and imports the module of each function it is handed and of each value
pickled to it. ``marks_reader`` imports the whole store (SQLAlchemy's ORM, the models, alembic):
about 1.1 CPU-s a helper before its first read, two helpers a daemon or a burst of timers. This
module imports pyarrow, numpy, the core's calendar, marks and register, and psycopg when it
reads PostgreSQL: a helper's start measured 0.45 CPU-s against 1.2. A PostgreSQL read goes
through the helper's own psycopg connection (``Job.conninfo``, the store engine's options
included); a SQLite file through ADBC, which needs ``marks_io`` (SQLAlchemy) to decode its rows.
Nothing here may import ``escalation_flow.adapters.store.store`` or ``marks_io`` at the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from escalation_flow.adapters.store.kept_registers import (
    KEPT_SCHEMA,
    KeptMarks,
    kept_of,
    kept_of_arrays,
)
from escalation_flow.adapters.store.mark_texts import LOADED_SCHEMA
from escalation_flow.adapters.store.pg_arrays import fetch_arrays
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.marks import MarkTable, Roster
from escalation_flow.core.register import AssumeRecordedAt, RegisterGrid, register_as_known_at
from escalation_flow.stored import SchoolRead


@dataclass(frozen=True)
class Job:
    """What the helper needs for one school: plain data, pickled across."""

    path: str | None  # a SQLite file: read through ADBC
    url: str | None  # else the database, read as the store reads it (when conninfo cannot)
    conninfo: str | None  # PostgreSQL through psycopg: read with the helper's own connection
    marks_sql: str
    amended_sql: str | None
    school: str
    calendar: SchoolCalendar
    names: dict[int, str]
    roster: Roster
    known_at: datetime
    # PostgreSQL: ``marks_sql``'s rows packed by the server (``kept_arrays_sql``), read first
    arrays_sql: str | None = None


def grid_of(
    marks: MarkTable, calendar: SchoolCalendar, known_at: datetime, roster: Roster
) -> RegisterGrid:
    """The register as known at ``known_at``; the store gives every mark its ``recorded_at``
    (the import's time when the file did not), so the assumption below is never used."""
    return register_as_known_at(
        marks,
        calendar,
        known_at=known_at,
        unknown_recorded_at=AssumeRecordedAt(known_at),
        roster=roster,
    )


def read(job: Job) -> SchoolRead:
    """In the helper process: the reads, then the grid. PostgreSQL's rows come as the kept
    read's (``kept_sql``: one row of arrays, not ``COPY``'s row a message parsed as CSV, which
    was 0.2 CPU-s of a 230,000-mark school against 0.02)."""
    if job.path is None:
        kept, amended = _read_kept_rows(job)
        marks = kept.mark_table(job.names)
    else:
        from escalation_flow.adapters.store.marks_io import to_mark_table  # SQLite files only

        rows, amended = _read_adbc(job)
        marks = to_mark_table(job.school, job.calendar, _as(rows, LOADED_SCHEMA), job.names)
    grid = grid_of(marks, job.calendar, job.known_at, job.roster)
    return SchoolRead(grid, job.roster, frozenset(job.names[i] for i in amended if i in job.names))


def read_kept(job: Job) -> KeptMarks:
    """In the helper process: a school's marks whole, with their imports, to be kept."""
    return _read_kept_rows(job)[0]


def ready(dialect: str) -> None:
    """In a helper started ahead: what its first read would import (this module came with
    the call)."""
    if dialect == "sqlite":
        import adbc_driver_sqlite.dbapi  # noqa: F401

        import escalation_flow.adapters.store.marks_io  # noqa: F401
    else:
        import psycopg  # noqa: F401


def _read_kept_rows(job: Job) -> tuple[KeptMarks, list[int]]:
    """A ``kept_sql`` read's rows, decoded in load order, and the amended pupils' ids."""
    if job.path is not None:
        rows, amended = _read_adbc(job)
    elif job.conninfo is not None:
        read, amended = _read_psycopg(job, job.conninfo)
        if isinstance(read, KeptMarks):
            return read, amended
        rows = read
    else:
        rows, amended = _read_url(job)
    return kept_of(job.school, job.calendar, _as(rows, KEPT_SCHEMA)), amended


def _as(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """A read's rows under ``schema``'s names and types (a driver names and types them its
    own way; no rows: the empty table, whatever type the driver gave a column it never saw)."""
    return rows.rename_columns(schema.names).cast(schema) if rows.num_rows else schema.empty_table()


def _read_adbc(job: Job) -> tuple[pa.Table, list[int]]:
    import adbc_driver_sqlite.dbapi as adbc  # only SQLite files need it

    from escalation_flow.adapters.store.engine import BUSY_TIMEOUT_MS

    assert job.path is not None
    uri = f"file:{quote(str(Path(job.path).resolve()))}?mode=ro"
    with adbc.connect(uri) as connection, connection.cursor() as cursor:
        # ADBC's SQLite is a second library with its own connection: without a timeout of its
        # own it fails at once ("database is locked") whenever a writer holds the file briefly.
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.fetchall()
        cursor.execute(job.marks_sql)
        rows: pa.Table = cursor.fetch_arrow_table()
        amended: list[int] = []
        if job.amended_sql is not None:
            cursor.execute(job.amended_sql)
            amended = [int(row[0]) for row in cursor.fetchall()]
    return rows, amended


_connections: dict[str, Any] = {}  # in the helper: one psycopg connection per database, kept


def _read_psycopg(job: Job, conninfo: str) -> tuple[pa.Table | KeptMarks, list[int]]:
    """The rows through psycopg alone: ``job.arrays_sql``'s packed arrays decoded, else
    ``job.marks_sql`` (a ``kept_sql``) as one row of arrays; rows neither can carry (a NULL)
    are read as the store reads them (``_read_url``)."""
    import psycopg

    try:
        connection = _connections.get(conninfo)
        if connection is None or connection.closed or connection.broken:
            _connections.pop(conninfo, None)
            connection = _connections[conninfo] = psycopg.connect(conninfo)
        with connection.transaction():
            # ``date::text`` in the load's text columns follows the session's DateStyle
            connection.execute("SET LOCAL DateStyle = 'ISO, YMD'")
            rows: pa.Table | KeptMarks | None = None
            if job.arrays_sql is not None:
                with connection.cursor(binary=True) as cursor:
                    cursor.execute(job.arrays_sql)
                    rows = kept_of_arrays(job.school, job.calendar, cursor.fetchone())
            if rows is None:
                rows = fetch_arrays(connection, job.marks_sql, KEPT_SCHEMA)
            amended: list[int] = []
            if job.amended_sql is not None:
                amended = [int(r[0]) for r in connection.execute(job.amended_sql).fetchall()]
    except psycopg.Error:  # no connection made, one the server dropped since, or
        # the read's own failure: read as the store reads (its errors, its retries)
        dropped = _connections.pop(conninfo, None)
        if dropped is not None:
            dropped.close()
        return _read_url(job)
    if rows is None:
        return _read_url(job)
    return rows, amended


_engines: dict[str, Any] = {}  # in the helper: one SQLAlchemy engine per database, kept


def _read_url(job: Job) -> tuple[pa.Table, list[int]]:
    """``job.marks_sql`` is a ``kept_sql``: its rows may come unordered (``kept_of`` orders)."""
    from escalation_flow.adapters.store.bulk import fetch
    from escalation_flow.adapters.store.engine import create_store_engine

    assert job.url is not None
    engine = _engines.get(job.url) or _engines.setdefault(job.url, create_store_engine(job.url))
    with engine.begin() as conn:  # the read sets its session options for this transaction
        rows = fetch(conn, job.marks_sql, KEPT_SCHEMA, unordered=True)
        amended = []
        if job.amended_sql is not None:
            amended = [int(i) for i in conn.exec_driver_sql(job.amended_sql).scalars()]
    return rows, amended
