"""A decision's guard reads as a sentence on the case page (``web.guard_words``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.definition import Flow
from escalation_flow.web.guard_words import guard_sentence

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def oaks() -> Flow:
    return load_flow(ROOT / "flows" / "leigh-academy-oaks.yaml")


def test_stage_and_counts_and_plan_numbers_read_in_words_with_their_values(oaks: Flow) -> None:
    guard = (
        "attendance_pct < stage_4_below_pct and stage == 3 and "
        "individual_attendance_plan_recorded >= 1 and attendance_pct < attendance_pct_at_state_entry"
    )
    facts = {"attendance_pct": 87.25, "attendance_pct_at_state_entry": 88.5, "stage": 3}
    text = guard_sentence(oaks, guard, facts)
    assert text is not None
    assert "==" not in text and "_" not in text
    assert text.startswith("attendance this academic year to date (87.2%) is below 90%")
    assert "the case is at stage 3" in text
    assert "individual attendance plan has been recorded" in text
    assert text.endswith("is below attendance year to date on the day the state was entered (88.5%)")


def test_a_flag_negated_and_groups_keep_their_meaning(oaks: Flow) -> None:
    text = guard_sentence(
        oaks, "not compulsory_school_age or (unresolved_n_sessions >= 1 and stage == 2)", {}
    )
    assert text == (
        "it is not so that the pupil is of compulsory school age or "
        "(sessions still marked N as known at the time asked is at least 1 session and the case "
        "is at stage 2)"
    )


def test_what_the_words_do_not_cover_is_left_to_the_terse_reading(oaks: Flow) -> None:
    assert guard_sentence(oaks, "attendance_pct <", {}) is None
    assert guard_sentence(oaks, "attendance_pct", {}) is not None  # a bare name still reads
