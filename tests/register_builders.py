"""Small builders shared by the register and facts tests: mark tables from readable rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import code_id
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, MarkTable, to_micros

ROOT = Path(__file__).resolve().parents[1]
CALENDARS = ROOT / "config" / "calendars"

#: (pupil, date, "AM"/"PM", code, recorded_at or None)
Row = tuple[str, date, str, str, datetime | None]


def bundled_calendar(*years: str) -> SchoolCalendar:
    """The bundled calendars by year, e.g. ``bundled_calendar("2025-26", "2026-27")``."""
    return load_calendar([CALENDARS / f"england-{y}.yaml" for y in years])


def mark_table(calendar: SchoolCalendar, rows: Iterable[Row], school: str = "oaks") -> MarkTable:
    rows = list(rows)
    pupils: dict[str, int] = {}
    for r in rows:
        pupils.setdefault(r[0], len(pupils))
    return MarkTable(
        school=school,
        pupils=tuple(pupils),
        pupil=np.array([pupils[r[0]] for r in rows], dtype=np.int32),
        session=np.array([calendar.session_index(r[1], r[2]) for r in rows], dtype=np.int32),
        code=np.array([code_id(r[3]) for r in rows], dtype=np.int8),
        recorded_at=np.array(
            [UNKNOWN_RECORDED_AT if r[4] is None else to_micros(r[4]) for r in rows],
            dtype=np.int64,
        ),
        minutes_late=np.full(len(rows), -1, dtype=np.int16),
    )


def whole_days(
    calendar: SchoolCalendar,
    pupil: str,
    days: Sequence[date],
    am: str,
    pm: str | None = None,
    recorded_at: datetime | None = None,
) -> list[Row]:
    """Both sessions of each day marked ``am`` / ``pm`` (PM defaults to ``\\`` after ``/``)."""
    pm_code = pm if pm is not None else ("\\" if am == "/" else am)
    return [
        row
        for d in days
        for row in ((pupil, d, "AM", am, recorded_at), (pupil, d, "PM", pm_code, recorded_at))
    ]


def school_days(calendar: SchoolCalendar, first: date, last: date) -> list[date]:
    return [d for d in calendar.school_days if first <= d <= last]
