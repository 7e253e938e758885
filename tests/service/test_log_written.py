"""A day's counts and its events, whether the log's level keeps its INFO events or drops them."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import structlog

from escalation_flow.core.case import Case, fold
from escalation_flow.core.decisions import (
    CaseClosed,
    CaseOpened,
    Reason,
    StageEntered,
    StageOverridden,
    TaskCreated,
    TimerFired,
)
from escalation_flow.service.events import log_written
from escalation_flow.service.letter_preparation import Prepared
from escalation_flow.stored import ENGINE, CaseChange, CreatedTask, StoredCase, Written

ON = date(2025, 10, 1)
AT = datetime(2025, 10, 1, 17, tzinfo=UTC)


def _changes() -> list[CaseChange]:
    daily = Reason(trigger="daily")
    opened = CaseOpened(on=ON, at=AT, flow="f", flow_version="v")
    entered = StageEntered(on=ON, at=AT, stage=1, state="s1", from_stage=0, reason=daily)
    out = []
    for pupil, decisions in (
        ("P1", [opened, entered]),
        ("P2", [opened, entered, StageOverridden(
            on=ON, at=AT, stage=2, state="s2", from_stage=1, by="staff", reason_text="why"
        )]),
        ("P3", [opened, TimerFired(on=ON, at=AT, timer_key="t#1", timer="t", due=ON),
                CaseClosed(on=ON, at=AT, reason=daily)]),
    ):  # fmt: skip
        after = fold("S", pupil, decisions)
        out.append(CaseChange(StoredCase(None, Case("S", pupil)), decisions, after, ENGINE))
    return out


def _logged(
    level: int, bound: list[str] | None = None
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    def keep(_: Any, method: str, event: dict[str, Any]) -> str:
        events.append({"level": method, **event})
        return ""

    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[keep],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    if bound is not None:
        binding = log.bind

        def bind(**values: Any) -> Any:
            if "pupil" in values:  # a case's logger (the proxy binds nothing for each call)
                bound.append(values["pupil"])
            return binding(**values)

        log.bind = bind  # type: ignore[method-assign]
    changes = _changes()
    task = TaskCreated(
        on=ON, at=AT, task_key="letter#1", task="letter", role="office", kind="letter",
        due=ON, approval=True, template="first",
    )  # fmt: skip
    created = [CreatedTask(7, 1, "P1", task, changes[0].after)]
    written = Written({"P1": 1, "P2": 2, "P3": 3}, created, 8, {})
    letters = [Prepared(created[0], None, "no name"), Prepared(created[0], 12)]
    return log_written(log, "S", changes, written, letters, worker="w"), events


def test_the_days_counts_are_the_same_when_the_level_drops_the_cases_events() -> None:
    counts, events = _logged(logging.INFO)
    quiet, kept = _logged(logging.WARNING)
    assert counts == quiet == {
        "cases_opened": 3, "stage_changes": 3, "cases_closed": 1, "tasks_created": 1,
        "timers_fired": 1,
    }  # fmt: skip
    assert {e["event"] for e in events} >= {"case.opened", "case.closed", "letter.prepared"}
    assert kept == [e for e in events if e["level"] == "warning"]
    assert kept == [
        {"level": "warning", "event": "letter.not_prepared", "problem": "no name",
         "school": "S", "case_id": 1, "task_id": 7, "worker": "w"}
    ]  # fmt: skip


def test_a_day_whose_level_drops_the_cases_events_binds_no_logger_per_case() -> None:
    bound: list[str] = []
    _logged(logging.WARNING, bound)
    assert bound == []
    _logged(logging.INFO, bound)
    assert bound == ["P1", "P2", "P3"]
