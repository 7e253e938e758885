"""When things fall due on a school calendar: a task's due date, a timer's day and instant.

Pure arithmetic over ``SchoolCalendar``: school days and school weeks skip holidays; a plain
number of days may end on a holiday, except for a timer, which only ever fires on a school day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Duration, Timer


def due_date(calendar: SchoolCalendar, start: date, after: Duration, *, for_timer: bool) -> date:
    """When something ``after`` ``start`` is due; timers only ever fire on school days."""
    if after.unit == "school_days":
        return calendar.add_school_days(start, after.amount)
    if after.unit == "school_weeks":
        return calendar.add_school_weeks(start, after.amount)
    due = start + timedelta(days=after.amount)
    return calendar.next_school_day_on_or_after(due) if for_timer else due


def firing(zone: ZoneInfo, timer: Timer, length: Duration, due: date) -> tuple[datetime, str]:
    """When ``timer``, armed for ``length`` and due on ``due``, fires (UTC: its ``at`` in the
    school's zone that day), and its rule as text."""
    hour, minute = (int(p) for p in timer.at.split(":"))
    fire_at = datetime.combine(due, time(hour, minute), tzinfo=zone)
    rule = str(length) if timer.every is None else f"{length} (repeating)"
    return fire_at.astimezone(UTC), rule
