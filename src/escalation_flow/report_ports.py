"""What the termly targeting report and the local authority's monthly notifications need from
outside the service (issue 16, parts 4-5): the records they keep, and the siblings seam.

- ``ReportRecords``: the actions agreed at a termly targeting meeting, and the monthly
  notifications recorded as sent to the local authority. Each record is written in one
  transaction with its entry in the staff audit log. ``adapters/store/report_store`` keeps them.
- ``SiblingDirectory``: a line per pupil naming their siblings and schools, for the report's
  siblings column. ``service.families.FamilyReads`` implements it from the contacts (issue 16,
  parts 1-3; ``bootstrap.report_desk`` hands it in); ``NoSiblings`` answers nothing and the
  column then shows "—".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from escalation_flow.core.access import Principal

#: Audit log actions (``audit_log.action``) for the two records.
ACTION_AGREED = "targeting_action_agreed"
NOTIFICATION_SENT = "la_notification_sent"
#: What the siblings column shows when nothing is known.
NO_SIBLINGS = "—"


@dataclass(frozen=True)
class AgreedAction:
    """One action agreed for a pupil at a school's termly targeting meeting."""

    school: str
    term: str  # the term's key, e.g. "autumn-2025"
    pupil: str
    action: str
    by: str  # a member of staff (checked like every staff action)
    at: datetime


@dataclass(frozen=True)
class NotificationSent:
    """A month's notification to the local authority, recorded as sent."""

    school: str
    month: str  # YYYY-MM
    pupils: tuple[str, ...]  # the pupils it named
    digest: str  # sha256 of the CSV as sent
    by: str
    at: datetime


class ReportRecords(Protocol):
    def agreed_actions(self, school: str, terms: Collection[str]) -> list[AgreedAction]:
        """The actions agreed at ``school`` in those terms' meetings, oldest first."""
        ...

    def record_action(self, action: AgreedAction) -> None:
        """Keep one agreed action, and its audit log entry, in one transaction."""
        ...

    def notifications_sent(self, school: str, month: str) -> list[NotificationSent]:
        """The notifications recorded as sent for that month, oldest first."""
        ...

    def record_sent(self, sent: NotificationSent) -> None:
        """Keep one notification as sent, and its audit log entry, in one transaction."""
        ...


class SiblingDirectory(Protocol):
    def sibling_lines(
        self,
        school: str,
        pupils: Sequence[str],
        visible_schools: Collection[str] | None,
        viewer: Principal | None = None,
    ) -> dict[str, str]:
        """Per pupil (those with any), their siblings in one line; a sibling at a school outside
        ``visible_schools`` (``None``: every school) is named only as "a sibling at another
        school in the trust"; one ``viewer`` (when given) may not read at ``school`` (a class
        teacher's other year groups) only as "a sibling at this school"."""
        ...


class NoSiblings:
    """The seam's default when families are not known: no pupil has a line."""

    def sibling_lines(
        self,
        school: str,
        pupils: Sequence[str],
        visible_schools: Collection[str] | None,
        viewer: Principal | None = None,
    ) -> dict[str, str]:
        return {}
