"""Who the termly targeting meeting discusses (issue 16, part 4), and the terms it is held in.

A term is named by its season and the calendar year it starts in (``autumn-2025``,
``spring-2026``, ``summer-2026``): what a school and a local authority call it.

A pupil is listed when, at the end of the as-of school day, they are severely absent (attendance
this year 50% or less), persistently absent (90% or less), at risk of becoming persistently
absent by the end of the year (``core.projection``), or had actions agreed at the previous
term's meeting (so that the meeting sees what came of them). Severe first, then persistent, at
risk and followed up; within each, lowest attendance first (unknown last), then by pupil id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from enum import StrEnum

from escalation_flow.core.calendar import SchoolCalendar, Term
from escalation_flow.errors import CalendarError

_TERM_KEY = re.compile(r"(autumn|spring|summer)-(\d{4})")


class Listed(StrEnum):
    """Why a pupil is on the targeting list (the first that holds, in this order)."""

    SEVERE = "severely absent"
    PERSISTENT = "persistently absent"
    AT_RISK = "at risk of persistent absence"
    FOLLOW_UP = "actions agreed last term"


_ORDER = {reason: i for i, reason in enumerate(Listed)}


def term_key(term: Term) -> str:
    return f"{term.name.value}-{term.start.year}"


def terms_of(calendar: SchoolCalendar) -> list[Term]:
    return [t for year in calendar.years for t in year.terms]


def find_term(calendar: SchoolCalendar, key: str) -> Term:
    """The calendar's term named ``key`` (``autumn-2025``); an error names the ones it has."""
    terms = terms_of(calendar)
    if _TERM_KEY.fullmatch(key.strip()):
        for term in terms:
            if term_key(term) == key.strip():
                return term
    known = ", ".join(term_key(t) for t in terms)
    raise CalendarError(
        f"term {key!r} is not in calendar {calendar.name}: a term is its season and the year it "
        f"starts, one of {known}"
    )


def previous_term(calendar: SchoolCalendar, term: Term) -> Term | None:
    """The term before ``term`` in the calendar (``None`` for its first)."""
    terms = terms_of(calendar)
    i = terms.index(term)
    return terms[i - 1] if i > 0 else None


def listed_because(facts: Mapping[str, float], followed_up: bool) -> Listed | None:
    """Why a pupil with these facts is on the list (``None``: not listed)."""
    if facts.get("severe_absence") == 1:
        return Listed.SEVERE
    if facts.get("persistent_absence") == 1:
        return Listed.PERSISTENT
    if facts.get("at_risk_of_persistent_absence") == 1:
        return Listed.AT_RISK
    return Listed.FOLLOW_UP if followed_up else None


def targeted(
    rows: Mapping[str, Mapping[str, float]], followed_up: Collection[str]
) -> list[tuple[str, Listed]]:
    """The listed pupils of ``rows`` (pupil to facts), in the list's order, with why."""
    found = [
        (pupil, reason)
        for pupil, facts in rows.items()
        if (reason := listed_because(facts, pupil in followed_up)) is not None
    ]

    def order(item: tuple[str, Listed]) -> tuple[int, int, float, str]:
        pct = rows[item[0]].get("attendance_pct", math.nan)
        unknown = math.isnan(pct)
        return (_ORDER[item[1]], int(unknown), 0.0 if unknown else pct, item[0])

    return sorted(found, key=order)
