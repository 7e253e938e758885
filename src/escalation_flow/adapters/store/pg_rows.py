"""Many rows into one PostgreSQL table with ``COPY``, their ids drawn from its sequence first.

A timer batch or a school day writes thousands of history records, tasks and timers. Sent as an
``executemany`` each row is its own bind and execute on the server and its own trip through
SQLAlchemy's parameter processing here; ``COPY`` sends them as one stream that psycopg formats
in C (measured on 27,000 history records: a quarter of the client's CPU and half the server's).
``COPY`` returns nothing, so a caller that needs the new rows' ids takes them from the table's
sequence first (``new_ids``: one statement) and writes them with the rows: the same ids, in the
same order, that the rows' defaults would have drawn.

Errors come from psycopg here, not through SQLAlchemy: they are raised as SQLAlchemy's own
(``IntegrityError`` for a unique key another writer took, ``OperationalError`` for a deadlock),
so callers handle them as they handle an ``executemany``'s.

Many rows updated by key go the same way for the same reason: one ``UPDATE ... FROM
unnest(...)`` with each column sent as a binary array (``update_rows``; as text, psycopg
escapes every value into the array literal and the server parses it back, slower than the
``executemany``).

``many(conn, rows)`` says when this is worth it: PostgreSQL and at least ``COPY_FROM`` rows (a
staff action's row or two stay one ``INSERT``, one round trip instead of two or three).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import String, TypeEngine

from escalation_flow.adapters.store.models import UtcDateTime

#: The fewest rows written with ``COPY`` (fewer: an ``INSERT``, one round trip).
COPY_FROM = 20


def many(conn: Connection, rows: Sequence[object]) -> bool:
    """Whether ``rows`` go to the database with ``COPY``: PostgreSQL, and enough of them."""
    return len(rows) >= COPY_FROM and conn.dialect.name == "postgresql"


def new_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` new ids from the sequence of ``table``'s ``id`` column, in the order drawn.

    The sequence is looked up once (a materialised CTE): ``nextval(pg_get_serial_sequence(...))``
    in the select list looked it up in the catalog and cast its name to a ``regclass`` for each
    id: 5.1 ms of server time for 1,000 ids against 0.5 (issue 13; a trust's school day draws
    about 2,400, so 12 -> 9 ms of its server time, little, but no round trip more)."""
    if n <= 0:
        return []
    query = text(
        "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(:table, 'id')::regclass AS seq) "
        "SELECT nextval(s.seq) FROM s, generate_series(1, :n)"
    )
    return [int(i) for i in conn.execute(query, {"table": table.name, "n": n}).scalars()]


def copy_with_ids(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """New rows by ``COPY``, each with an id drawn from the table's sequence: the ids, in the
    rows' order (what ``INSERT ... RETURNING id`` gives)."""
    ids = new_ids(conn, table, len(rows))
    copy_dicts(conn, table, [{"id": i, **r} for i, r in zip(ids, rows, strict=True)])
    return ids


def copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """``COPY`` ``rows`` (tuples in the order of ``columns``) into ``table``, in the
    connection's transaction. Instants must be timezone-aware (as ``UtcDateTime`` requires)."""
    names = ", ".join(f'"{c}"' for c in columns)
    statement = f"COPY {table.name} ({names}) FROM STDIN"
    dbapi: Any = conn.connection.dbapi_connection  # psycopg's: its cursors copy
    try:
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            statement, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc


def copy_dicts(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``copy_rows`` of rows given as dicts, every one with the keys of the first (the columns
    written); a ``UtcDateTime`` column's instants bound as that type binds them."""
    if not rows:
        return
    columns = list(rows[0])
    instants = {c for c in columns if isinstance(table.c[c].type, UtcDateTime)}
    plain = [c for c in columns if c not in instants]
    if not instants:
        copy_rows(conn, table, plain, ([r[c] for c in plain] for r in rows))
        return
    zoned = sorted(instants)
    copy_rows(
        conn,
        table,
        [*plain, *zoned],
        ([*(r[c] for c in plain), *(_utc_or_none(r[c]) for c in zoned)] for r in rows),
    )


def _utc_or_none(instant: dt.datetime | None) -> dt.datetime | None:
    return None if instant is None else utc(instant)


def utc(instant: dt.datetime) -> dt.datetime:
    """An instant as ``UtcDateTime`` binds it on PostgreSQL (refused when it has no zone)."""
    if instant.tzinfo is None:
        raise ValueError("instants stored in the database must be timezone-aware")
    return instant.astimezone(dt.UTC)


def update_rows(
    conn: Connection,
    table: Table,
    match: Mapping[str, str],
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """One ``UPDATE`` of ``table`` from ``rows`` sent as arrays (``unnest``): each row finds its
    table row where every ``match`` column equals the row's value under its key, and sets
    ``columns`` to the row's values; how many table rows it changed (an ``executemany``'s
    rowcount, when no two rows find the same table row). Instants must be timezone-aware."""
    names = [*match.values(), *columns]
    kinds = [*(table.c[c].type for c in match), *(table.c[c].type for c in columns)]
    arrays = {}
    for n, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        values = [r[name] for r in rows]
        if isinstance(kind, UtcDateTime):
            values = [_utc_or_none(v) for v in values]
        arrays[f"a{n}"] = values
    sql_types = [_unsized(kind).compile(dialect=conn.dialect) for kind in kinds]
    unnest = ", ".join(f"%(a{n})b::{t}[]" for n, t in enumerate(sql_types))
    given = ", ".join(f"u{n}" for n in range(len(names)))
    sets = ", ".join(f'"{c}" = u{n}' for n, c in enumerate(columns, start=len(match)))
    where = " AND ".join(f't."{c}" = u{n}' for n, c in enumerate(match))
    statement = (
        f"UPDATE {table.name} AS t SET {sets} "
        f"FROM unnest({unnest}) AS u({given}) WHERE {where}"
    )
    return int(conn.exec_driver_sql(statement, arrays).rowcount)


def _unsized(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    """``kind`` without a length: an explicit cast to ``VARCHAR(n)`` cuts a longer text short
    without a word, where the assignment to the column refuses it as an ``UPDATE`` does."""
    if isinstance(kind, String) and kind.length is not None:
        return type(kind)()
    return kind
