"""Who the termly targeting meeting lists, and in which order; the terms it is held in."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from escalation_flow.core.targeting import (
    Listed,
    find_term,
    listed_because,
    previous_term,
    targeted,
    term_key,
)
from escalation_flow.errors import CalendarError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from register_builders import bundled_calendar

CAL = bundled_calendar("2025-26", "2026-27")


def facts(pct: float, *, at_risk: float = 0.0) -> dict[str, float]:
    known = not math.isnan(pct)
    return {
        "attendance_pct": pct,
        "persistent_absence": float(pct <= 90) if known else math.nan,
        "severe_absence": float(pct <= 50) if known else math.nan,
        "at_risk_of_persistent_absence": at_risk,
    }


def test_severe_then_persistent_then_at_risk_then_followed_up_lowest_attendance_first() -> None:
    rows = {
        "P1": facts(95.0),
        "P2": facts(88.0),
        "P3": facts(45.0),
        "P4": facts(92.0, at_risk=1.0),
        "P5": facts(80.0),
        "P6": facts(97.0),
        "P7": facts(math.nan, at_risk=math.nan),
    }
    assert targeted(rows, followed_up={"P6", "P7", "P3"}) == [
        ("P3", Listed.SEVERE),
        ("P5", Listed.PERSISTENT),
        ("P2", Listed.PERSISTENT),
        ("P4", Listed.AT_RISK),
        ("P6", Listed.FOLLOW_UP),
        ("P7", Listed.FOLLOW_UP),
    ]


def test_exactly_ninety_percent_is_persistent_and_unknown_is_not_listed() -> None:
    assert listed_because(facts(90.0), False) is Listed.PERSISTENT
    assert listed_because(facts(math.nan, at_risk=math.nan), False) is None


def test_terms_are_named_by_season_and_starting_year_across_years() -> None:
    spring = find_term(CAL, "spring-2026")
    assert (spring.start.isoformat(), term_key(spring)) == ("2026-01-05", "spring-2026")
    autumn_next = find_term(CAL, "autumn-2026")
    summer = previous_term(CAL, autumn_next)
    assert summer is not None and term_key(summer) == "summer-2026"
    assert previous_term(CAL, find_term(CAL, "autumn-2025")) is None


def test_an_unknown_term_names_the_terms_there_are() -> None:
    with pytest.raises(CalendarError, match="autumn-2025, spring-2026"):
        find_term(CAL, "autumn 2025")
