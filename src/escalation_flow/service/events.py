"""One log event per thing that happened, after it was written; pupil ids only, never names."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from structlog.typing import FilteringBoundLogger

from escalation_flow.core.decisions import (
    CaseClosed,
    CaseOpened,
    EventRecorded,
    StageEntered,
    StageOverridden,
    TaskCompleted,
    TaskSuperseded,
    TimerFired,
)
from escalation_flow.ports import CaseChange, Written
from escalation_flow.service.letter_preparation import Prepared


def log_written(
    log: FilteringBoundLogger,
    school: str,
    changes: Sequence[CaseChange],
    written: Written,
    letters: Sequence[Prepared],
    **bound: Any,
) -> dict[str, int]:
    """Log what ``written`` recorded; the counts a ``DayReport`` carries."""
    counts = {
        "cases_opened": 0,
        "stage_changes": 0,
        "cases_closed": 0,
        "tasks_created": len(written.tasks),
        "timers_fired": 0,
    }
    _count(changes, counts)
    # below INFO only a letter's problem is logged: no logger bound per changed case and no
    # events built to be dropped (a day changes thousands)
    info = log.is_enabled_for(logging.INFO)
    if info:
        _log_decisions(log, school, changes, written, bound)
        for task in written.tasks:
            log.info(
                "task.created",
                school=school,
                case_id=task.case_id,
                task_id=task.id,
                pupil=task.pupil,
                task=task.decision.task,
                role=task.decision.role,
                due=task.decision.due.isoformat(),
                **bound,
            )
    for letter in letters:
        fields = {"school": school, "case_id": letter.task.case_id, "task_id": letter.task.id}
        if letter.letter_id is None:
            log.warning("letter.not_prepared", problem=letter.problem, **fields, **bound)
        elif info:
            log.info("letter.prepared", letter_id=letter.letter_id, **fields, **bound)
    return counts


def _log_decisions(
    log: FilteringBoundLogger,
    school: str,
    changes: Sequence[CaseChange],
    written: Written,
    bound: dict[str, Any],
) -> None:
    """An event for each decision of each changed case."""
    for change in changes:
        pupil = change.after.pupil
        case_log = log.bind(
            school=school, case_id=written.case_ids.get(pupil), pupil=pupil, **bound
        )
        for d in change.decisions:
            if isinstance(d, CaseOpened):
                case_log.info("case.opened", on=d.on.isoformat(), flow_version=d.flow_version)
            elif isinstance(d, StageEntered):
                case_log.info(
                    "case.stage_entered",
                    on=d.on.isoformat(),
                    stage=d.stage,
                    from_stage=d.from_stage,
                    state=d.state,
                    trigger=d.reason.trigger,
                )
            elif isinstance(d, StageOverridden):
                case_log.info("case.overridden", stage=d.stage, from_stage=d.from_stage, by=d.by)
            elif isinstance(d, CaseClosed):
                case_log.info("case.closed", on=d.on.isoformat(), trigger=d.reason.trigger)
            elif isinstance(d, TimerFired):
                case_log.info("timer.fired", timer=d.timer_key, due=d.due.isoformat())
            elif isinstance(d, TaskCompleted):
                case_log.info("task.completed", task=d.task_key, outcome=d.outcome, by=d.by)
            elif isinstance(d, TaskSuperseded):
                case_log.info("task.superseded", task=d.task_key)
            elif isinstance(d, EventRecorded):
                case_log.info("event.recorded", name=d.event, outcome=d.outcome, by=d.by)


def _count(changes: Sequence[CaseChange], counts: dict[str, int]) -> None:
    """The counts ``log_written`` gives, without its events."""
    for change in changes:
        for d in change.decisions:
            if isinstance(d, CaseOpened):
                counts["cases_opened"] += 1
            elif isinstance(d, StageEntered | StageOverridden):
                counts["stage_changes"] += 1
            elif isinstance(d, CaseClosed):
                counts["cases_closed"] += 1
            elif isinstance(d, TimerFired):
                counts["timers_fired"] += 1
