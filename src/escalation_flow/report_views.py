"""What the two reports of issue 16 (parts 4-5) hand the command line, the files and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from escalation_flow.report_ports import AgreedAction, NotificationSent


@dataclass(frozen=True)
class TargetingRow:
    pupil: str
    name: str
    year_group: str
    listed: str  # why (``core.targeting.Listed``)
    attendance_pct: float | None  # this year to date; None: unknown
    trend: float | None  # ``attendance_trend``, percentage points
    projected_pct: float | None  # ``projected_year_end_attendance_pct``
    at_risk: bool
    persistent: bool
    severe: bool
    case_status: str  # open, closed or none
    stage: int | None
    state: str
    siblings: str  # one line (``report_ports.SiblingDirectory``); "—" when none are known
    agreed_this_term: tuple[AgreedAction, ...]
    agreed_last_term: tuple[AgreedAction, ...]


@dataclass(frozen=True)
class TargetingReport:
    school: str
    school_name: str
    term: str
    previous_term: str | None
    as_of: date
    known_at: datetime
    rows: tuple[TargetingRow, ...]


@dataclass(frozen=True)
class LaMonthlyRow:
    pupil: str
    name: str
    year_group: str
    reason: str
    detail: str
    sent_at: datetime | None  # first recorded as sent (None: not yet)
    sent_by: str | None
    #: first sent in an earlier month's return (None: news to the authority)
    notified_before: datetime | None = None


@dataclass(frozen=True)
class LaMonthlyReport:
    school: str
    school_name: str
    month: str
    as_of: date
    known_at: datetime
    rows: tuple[LaMonthlyRow, ...]
    sent: tuple[NotificationSent, ...]
