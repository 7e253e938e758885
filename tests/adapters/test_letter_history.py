"""The case's past handed to a letter: read from its history, kept with the prepared letter."""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any

from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import CaseHistory, LetterContext, PenaltyNotices
from escalation_flow.letters.kept import _plain
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


def _kept_with_asdict(ctx: LetterContext) -> str:
    """``context_to_json`` as written with ``dataclasses.asdict``."""
    document: dict[str, Any] = {}
    for f in fields(ctx):
        value = getattr(ctx, f.name)
        if is_dataclass(value) and not isinstance(value, type):
            value = asdict(value)
        document[f.name] = value
    document["extra"] = dict(ctx.extra)
    document["addressees"] = [asdict(h) for h in ctx.addressees]
    return json.dumps(document, default=_plain, sort_keys=True, ensure_ascii=False)


def test_the_kept_context_is_the_text_asdict_gave() -> None:
    household = Household(
        contacts=("c3", "c4"), names=("Ms A \"Ann\" Smith", "Mr B Ng"),
        postal_address="1 Road\nTown", emails=("a@example.org",),
    )  # fmt: skip
    for ctx in (
        sample_context(),
        sample_context(meeting=None, next_review=None, addressees=(household, household)),
        sample_context(
            history=CaseHistory(letters_sent=("a",), tasks_done=("a", "b")),
            extra={"note": "é \\ \"q\"", "n": 2},
        ),
    ):
        assert context_to_json(ctx) == _kept_with_asdict(ctx)


def test_the_history_reads_task_records_by_their_type() -> None:
    created = {"type": "task_created", "task_key": "l#1", "task": "l", "template": "l"}
    done = {"type": "task_completed", "task_key": "l#1", "task": "l", "outcome": "sent"}
    rows = [_row(1, created), _row(2, {"type": "stage_entered", "stage": 2}), _row(3, done)]
    assert case_history(rows) == CaseHistory(letters_sent=("l",), tasks_done=("l",))
