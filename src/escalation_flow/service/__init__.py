"""The service layer: use cases over the store and the engine (see ``service.Service``)."""

from __future__ import annotations

from escalation_flow.service.service import Service
from escalation_flow.service.staff import ActionsReport
from escalation_flow.service.views import (
    CaseView,
    DayReport,
    FiredTimer,
    HistoryEntry,
    LetterView,
    SchoolStatus,
    StatusReport,
    TaskView,
    TimerView,
)

__all__ = [
    "ActionsReport",
    "CaseView",
    "DayReport",
    "FiredTimer",
    "HistoryEntry",
    "LetterView",
    "SchoolStatus",
    "Service",
    "StatusReport",
    "TaskView",
    "TimerView",
]
