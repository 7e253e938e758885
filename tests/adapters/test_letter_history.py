"""The case's past handed to a letter: read from its history, kept with the prepared letter."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from escalation_flow.letters.context import CaseHistory, PenaltyNotices
from escalation_flow.letters.sample import sample_context
from escalation_flow.service.letter_preparation import (
    case_history,
    context_from_json,
    context_to_json,
)
from escalation_flow.stored import HistoryRow

AT = datetime(2025, 10, 1, 8, tzinfo=UTC)


def _row(seq: int, event: dict[str, Any]) -> HistoryRow:
    body = json.dumps({"date": "2025-10-01", **event})
    return HistoryRow(seq, date(2025, 10, 1), AT, event["type"], body, "v", "engine", AT, "", "")


def test_the_history_names_letters_sent_and_tasks_done_not_letters_only_created() -> None:
    rows = [
        _row(1, {"type": "task_created", "task_key": "first_reminder_letter#1",
                 "task": "first_reminder_letter", "template": "first_reminder_letter"}),
        _row(2, {"type": "task_completed", "task_key": "first_reminder_letter#1",
                 "task": "first_reminder_letter", "outcome": "sent"}),
        _row(3, {"type": "task_created", "task_key": "second_warning_letter#2",
                 "task": "second_warning_letter", "template": "second_warning_letter"}),
        _row(4, {"type": "task_superseded", "task_key": "second_warning_letter#2",
                 "task": "second_warning_letter"}),
        _row(5, {"type": "task_created", "task_key": "individual_attendance_plan#3",
                 "task": "individual_attendance_plan"}),
        _row(6, {"type": "task_completed", "task_key": "individual_attendance_plan#3",
                 "task": "individual_attendance_plan", "outcome": "agreed"}),
    ]
    history = case_history(rows)
    assert history.letters_sent == ("first_reminder_letter",)
    assert history.tasks_done == ("first_reminder_letter", "individual_attendance_plan")
    assert history.sent() and not history.sent("first_reminder_letter", "second_warning_letter")
    assert history.done("individual_attendance_plan")


def test_the_prepared_letter_keeps_its_history_and_penalty_setting() -> None:
    ctx = sample_context(
        history=CaseHistory(letters_sent=("letter_n",), tasks_done=("letter_n",)),
        penalty_notices=PenaltyNotices(issued_by="local_authority", local_code="code"),
    )
    assert context_from_json(context_to_json(ctx)) == ctx


def test_a_letter_kept_before_histories_were_kept_reads_back_with_none() -> None:
    document = json.loads(context_to_json(sample_context()))
    del document["history"], document["penalty_notices"]
    back = context_from_json(json.dumps(document))
    assert back.history == CaseHistory() and back.penalty_notices == PenaltyNotices()
