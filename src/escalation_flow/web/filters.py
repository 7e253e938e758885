"""Words for the pages: dates as people write them, ids as sentences, numbers as percentages."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from escalation_flow.core.access import role_title

_LONDON = ZoneInfo("Europe/London")
#: Words that read better in capitals or spelt out when an id becomes a phrase.
_WORDS = {
    "dsl": "DSL",
    "flo": "FLO",
    "la": "LA",
    "csc": "CSC",
    "pn": "penalty notice",
    "slo": "SLO",
    "esw": "ESW",
    "ewo": "EWO",
    "senco": "SENCo",
    "pct": "%",
    "n": "N",
}


def humanize(name: str | None) -> str:
    """``attendance_reminder_letter`` -> ``Attendance reminder letter``."""
    if not name:
        return ""
    words = [_WORDS.get(w, w) for w in name.replace("-", "_").split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def day(value: date | datetime | None) -> str:
    """``Tue 16 Dec 2025``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(_LONDON).date()
    return f"{value:%a} {value.day} {value:%b %Y}"


def long_day(value: date | None) -> str:
    """``Tuesday 16 December 2025``."""
    if value is None:
        return ""
    return f"{value:%A} {value.day} {value:%B %Y}"


def moment(value: datetime | None) -> str:
    """``16 Dec 2025, 14:05`` in UK time."""
    if value is None:
        return ""
    local = value.astimezone(_LONDON)
    return f"{local.day} {local:%b %Y, %H:%M}"


def pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "not known yet"
    number = float(value)
    if math.isnan(number):
        return "not known yet"
    return f"{number:.{digits}f}%"


def number(value: Any) -> str:
    if value is None:
        return "not known"
    number = float(value)
    if math.isnan(number):
        return "not known"
    return str(int(number)) if number.is_integer() else f"{number:.2f}"


_LETTER_STATUS = {
    "prepared": "prepared, waiting for approval",
    "approved": "approved, ready to send",
    "sent": "sent",
    "superseded": "no longer needed (the case moved on before it was sent)",
}


def letter_status(status: str) -> str:
    """Where a letter is, in words (the case page's list of letters)."""
    return _LETTER_STATUS.get(status, status)


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def install(env: Environment) -> None:
    env.filters.update(
        humanize=humanize,
        day=day,
        long_day=long_day,
        moment=moment,
        pct=pct,
        number=number,
        role=role_title,
        letter_status=letter_status,
    )
    env.globals.update(plural=plural)
