"""A step taken because no other transition's guard held reads in words, not as the formula
``otherwise: not (...)`` it is recorded as (the case page, ``case show``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.definition import Flow
from escalation_flow.service.views import HistoryEntry
from escalation_flow.web.case_story import sentence
from escalation_flow.web.guard_words import guard_sentence

ROOT = Path(__file__).resolve().parents[2]
OTHERWISE = (
    "otherwise: not (unresolved_n_sessions >= 1 or illness_pattern or "
    "unauthorised_sessions_this_term >= 1)"
)


@pytest.fixture(scope="module")
def academy() -> Flow:
    return load_flow(ROOT / "flows" / "academy-staged-intervention.yaml")


def test_an_otherwise_says_which_conditions_did_not_hold_in_words(academy: Flow) -> None:
    facts = {"unresolved_n_sessions": 0.0, "unauthorised_sessions_this_term": 0.0}
    text = guard_sentence(academy, OTHERWISE, facts)
    assert text is not None
    assert text.startswith("none of the plan's other conditions held: ")
    assert "otherwise" not in text and "not (" not in text and "_" not in text
    assert text.count("; nor ") == 2
    assert "illness pattern (" in text  # a named condition says what it asks


def test_the_case_story_says_an_otherwise_step_in_words(academy: Flow) -> None:
    event = {
        "type": "state_entered", "state": "stage_1.monitoring", "trigger": "daily",
        "guard": OTHERWISE, "reason": {"unresolved_n_sessions": 0.0},
    }  # fmt: skip
    _, detail = sentence(academy, event)
    assert detail is not None
    assert "Because none of the plan's other conditions held: " in detail
    assert "otherwise: not" not in detail


def test_an_otherwise_of_one_named_condition_reads_it_out(academy: Flow) -> None:
    text = guard_sentence(academy, "otherwise: not (improved)", {})
    assert text is not None and text.startswith(
        "none of the plan's other conditions held: improved ("
    )


def test_case_show_says_an_otherwise_rule_in_words_and_keeps_other_rules_as_written(
    academy: Flow,
) -> None:
    from escalation_flow.cli.cases import _entry, _otherwise_words

    def entry(guard: str) -> HistoryEntry:
        event = {"type": "state_entered", "state": "stage_1.monitoring", "trigger": "daily",
                 "guard": guard, "reason": {"unresolved_n_sessions": 0.0}}  # fmt: skip
        at = datetime(2025, 10, 6, 17, tzinfo=UTC)
        return HistoryEntry(
            4, date(2025, 10, 6), at, "state_entered", event, "engine", "v", at, "h"
        )

    said = "\n".join(_entry(entry(OTHERWISE), _otherwise_words(academy)))
    assert (
        "         rule: none of the plan's other conditions held: sessions still marked N" in said
    )
    assert "otherwise: not" not in said
    plain = "\n".join(_entry(entry("unresolved_n_sessions >= 1"), _otherwise_words(academy)))
    assert "         rule: unresolved_n_sessions >= 1" in plain


def test_the_case_file_says_an_otherwise_step_in_words(academy: Flow) -> None:
    from escalation_flow.audit.chronology import _line
    from escalation_flow.audit.steps import HistoryRecord

    at = datetime(2025, 10, 6, 17, tzinfo=UTC)
    body = {"type": "state_entered", "state": "stage_1.monitoring", "trigger": "daily",
            "guard": OTHERWISE, "reason": {"unresolved_n_sessions": 0.0}}  # fmt: skip
    record = HistoryRecord(4, date(2025, 10, 6), at, "state_entered", body, "v", "engine", at)
    _, what = _line(record, {}, academy)
    assert "none of the plan's other conditions held: sessions still marked N" in what
    assert "otherwise: not" not in what


def test_a_run_of_unauthorised_school_days_is_counted_in_school_days_not_sessions(
    academy: Flow,
) -> None:
    text = guard_sentence(
        academy, "consecutive_unauthorised_school_days >= 10",
        {"consecutive_unauthorised_school_days": 12.0},
    )  # fmt: skip
    assert text is not None and text.endswith("(12 school days) is at least 10 school days")
