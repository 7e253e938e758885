"""The marks' rows as the store reads them back, without SQLAlchemy (issue 13).

The load's columns (``LOADED_SCHEMA``), the statement that reads them (``load_sql``) and the
decoding of its ``date || session || code`` texts (``mark_parts``): kept apart from
``marks_io`` (whose tables import SQLAlchemy's) so that a register helper process
(``register_helper``) imports what its reads need and no more.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE, UNMARKED_CODE, UNMARKED_ID
from escalation_flow.errors import CalendarError, StoreError

LOADED_SCHEMA = pa.schema(
    [
        ("pupil_id", pa.int64()),
        ("mark", pa.string()),
        ("minutes", pa.int64()),
        ("recorded_at", pa.int64()),
    ]
)


def load_sql(dialect: str, school_id: int, first: dt.date, last: dt.date) -> str:
    """The rows ``to_mark_table`` reads, for one school and a range of dates.

    Date, session and code come joined in one string (``2025-09-03AMN``): a school has a few
    thousand distinct ones, so decoding them once each is cheaper than reading three columns.
    The values are formatted in (COPY takes no parameters): an int and two dates, never text
    from a user.
    """
    # PostgreSQL: the reader sets the session to UTC and ISO dates (bulk._fetch_copy).
    day = "date" if dialect == "sqlite" else "date::text"
    return (
        f"SELECT pupil_id, {day} || session || code AS mark, "
        "coalesce(minutes_late, -1) AS minutes, recorded_at FROM marks "
        f"WHERE school_id = {int(school_id)} "
        f"AND date BETWEEN '{first.isoformat()}' AND '{last.isoformat()}' "
        "ORDER BY pupil_id, date, session, recorded_at, code"
    )


def mark_parts(
    calendar: SchoolCalendar, marks: list[str]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int8]]:
    """Session and code id of each distinct ``date || session || code`` text (``load_sql``)."""
    session = np.array(
        [2 * _day(calendar, m[:10]) + (0 if m[10:12] == "AM" else 1) for m in marks],
        dtype=np.int32,
    )
    code = np.array([_code_id(m[12:]) for m in marks], dtype=np.int8)
    return session, code


def _day(calendar: SchoolCalendar, value: str) -> int:
    try:
        return calendar.day_index(dt.date.fromisoformat(value))
    except CalendarError as exc:
        raise CalendarError(
            f"the store holds marks on {value}, which calendar {calendar.name} does not allow: "
            f"{exc.summary}; was the calendar changed after the import?"
        ) from exc


def _code_id(value: str) -> int:
    if value == UNMARKED_CODE:
        return UNMARKED_ID
    if value not in ID_OF_CODE:
        raise StoreError(f"the store holds an unknown register code {value!r}")
    return ID_OF_CODE[value]
