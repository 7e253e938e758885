"""Many rows into one SQLite table by the driver's own ``executemany``, each value bound as its
column's type binds it.

A school day writes about ten thousand history records and updates thousands of case rows.
Through SQLAlchemy each row of an ``executemany`` is a dict that goes through its parameter
processing (a third of the history insert's CPU here); these statements are written once per
table and columns, and each value goes through the processor SQLAlchemy would call for its
column (looked up once: a day as ISO text, an instant as ``UtcDateTime``'s microseconds), so the
stored values are the same. ``rowcount`` is the driver's, as an ``executemany``'s is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

_Processors = tuple[tuple[int, Callable[[Any], Any]], ...]


def many(conn: Connection, rows: Sequence[object]) -> bool:
    """Whether ``rows`` go by these statements: SQLite, and any rows at all."""
    return bool(rows) and conn.dialect.name == "sqlite"


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """``INSERT`` ``rows`` (tuples in the order of ``columns``) into ``table``; the rowcount."""
    _unsupplied(table, tuple(columns), "default")
    names = ", ".join(f'"{c}"' for c in columns)
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
    return _run(conn, statement, _processors(conn.dialect, table, tuple(columns)), rows)


def update_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """``UPDATE`` ``table`` setting ``columns`` where every one of ``keys`` equals its value:
    each row a tuple of the columns' values, then the keys'; the rowcount (rows changed)."""
    _unsupplied(table, tuple(columns), "onupdate")
    sets = ", ".join(f'"{c}" = ?' for c in columns)
    where = " AND ".join(f'"{k}" = ?' for k in keys)
    statement = f"UPDATE {table.name} SET {sets} WHERE {where}"
    return _run(conn, statement, _processors(conn.dialect, table, (*columns, *keys)), rows)


def _run(
    conn: Connection, statement: str, processors: _Processors, rows: Iterable[Sequence[Any]]
) -> int:
    bound = [_bound(row, processors) for row in rows] if processors else [tuple(r) for r in rows]
    if not bound:
        return 0
    return int(conn.exec_driver_sql(statement, bound).rowcount)


def _bound(row: Sequence[Any], processors: _Processors) -> tuple[Any, ...]:
    values = list(row)
    for i, process in processors:
        values[i] = process(values[i])
    return tuple(values)


@cache
def _processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Processors:
    """(position, the column type's bind processor) of each column that has one."""
    out = []
    for i, name in enumerate(columns):
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            out.append((i, process))
    return tuple(out)


@cache
def _unsupplied(table: Table, columns: tuple[str, ...], kind: str) -> None:
    """Refuse a column left out that SQLAlchemy would have filled in (its Python-side
    ``default`` on insert, ``onupdate`` on update): these statements do not."""
    missing = [c.name for c in table.c if c.name not in columns and getattr(c, kind) is not None]
    if missing:
        raise ValueError(f"{table.name}: {', '.join(missing)} would be left without its {kind}")
