"""A query's rows from PostgreSQL as one row of binary arrays, read with psycopg alone (issue 13).

Used by ``bulk.fetch`` (through SQLAlchemy's connection) and by a register helper process
(``register_helper``, through its own psycopg connection, so that it imports no SQLAlchemy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa


def fetch_arrays(driver: Any, sql: str, schema: pa.Schema) -> pa.Table | None:
    """``sql``'s rows as ``schema``, sent as one row of binary values the server makes: each
    number column one array (``array_send``), each text column its values run together with an
    array of their byte lengths; None when a column holds a NULL or a type not read here (read
    them otherwise). ``driver`` is a psycopg connection inside a transaction whose DateStyle is
    ISO (``date::text``). The aggregates read the subquery's rows in one pass, so their values
    line up; the rows come in its order as PostgreSQL aggregates them, which the standard does
    not promise: the caller puts them in order."""
    parts: list[str] = []
    for name, kind in zip(schema.names, schema.types, strict=True):
        if pa.types.is_string(kind):
            parts += [
                f"convert_to(string_agg(q.{name}, ''), 'UTF8')",
                f"array_send(array_agg(octet_length(q.{name})))",
            ]
        else:
            parts.append(f"array_send(array_agg(q.{name}))")
    with driver.cursor(binary=True) as cursor:
        cursor.execute(f"SELECT count(*), {', '.join(parts)} FROM ({sql}) AS q")
        found = cursor.fetchone()
    if found is None or not found[0]:
        return schema.empty_table()
    values: list[bytes | None] = [None if v is None else bytes(v) for v in found[1:]]
    columns = _binary_columns(values, schema, int(found[0]))
    return None if columns is None else pa.table(columns, schema=schema)


#: PostgreSQL's binary array element types read here: their oid and the element's width.
_ELEMENTS = {21: ">i2", 23: ">i4", 20: ">i8", 1184: ">i8", 1114: ">i8"}
#: timestamps travel as microseconds since 2000-01-01; the load's are since 1970
_PG_EPOCH_MICROS = 946_684_800_000_000


def _binary_columns(
    values: list[bytes | None], schema: pa.Schema, rows: int
) -> list[pa.Array] | None:
    """``_fetch_arrays``' values as ``schema``'s columns of ``rows`` each; None when one holds a
    NULL or a type not read here."""
    columns: list[pa.Array] = []
    at = 0
    for kind in schema.types:
        if pa.types.is_string(kind):
            data, lengths = values[at], int_array(values[at + 1], rows)
            at += 2
            if data is None or lengths is None or int(lengths.sum()) != len(data):
                return None
            offsets = np.zeros(rows + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            text = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
            columns.append(text.cast(kind))
        else:
            numbers = int_array(values[at], rows)
            at += 1
            if numbers is None:
                return None
            columns.append(pa.array(numbers, kind))
    return columns


def int_array(value: bytes | None, rows: int) -> npt.NDArray[np.int64] | None:
    """A one-dimensional binary array of ``rows`` integers or instants (``array_send``) as
    int64 (instants: microseconds since 1970); None if it has a NULL or is of another type."""
    if value is None or len(value) < 20:
        return None
    dims, nulls, oid, size = np.frombuffer(value, ">i4", 4)
    width = _ELEMENTS.get(int(oid))
    if dims != 1 or nulls or size != rows or width is None:
        return None
    item = np.dtype([("length", ">i4"), ("value", width)])
    if len(value) != 20 + rows * item.itemsize:
        return None
    numbers = np.frombuffer(value, item, rows, 20)["value"].astype(np.int64)
    if int(oid) in (1184, 1114):
        numbers += _PG_EPOCH_MICROS
    return numbers
