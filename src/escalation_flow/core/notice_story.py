"""The penalty-notice register's part of a case's story (issue 15): each notice, and every
change to it, as a step a reader of the case can place among the case's own records.

The register is kept apart from the case's history (its rows are chained on the school's
chain, not the case's), so ``case show``, the case page and the case file read it beside the
history and interleave the two by date. Pure: the versions and the parents' names are handed
in, and the words for a day are the caller's (the case file says "Friday 19 December 2025",
the terminal says ``2025-12-19``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from escalation_flow.core.penalty_notices import Kind, NoticeVersion, Session

DayWords = Callable[[date], str]
T = TypeVar("T")


@dataclass(frozen=True)
class Parent:
    """Who a notice was issued to, as the contacts name them."""

    name: str
    relationship: str


@dataclass(frozen=True)
class NoticeStep:
    """One version of one notice: its issue (version 1) or a change of its status."""

    version: NoticeVersion
    parent: Parent | None  # None: the contacts no longer know the contact id
    #: the day it happened: the issue day, or the day the change was recorded (school's zone)
    on: date
    #: where it stands among the case's records: when the register recorded it, or, for a
    #: notice recorded after its issue day, the end of that day (it happened then)
    placed: datetime

    @property
    def issued(self) -> bool:
        return self.version.version == 1

    @property
    def by(self) -> str:
        return self.version.recorded_by

    def title(self) -> str:
        """``Penalty notice 3`` / ``Notice to improve 4``."""
        kind = self.version.draft.kind
        word = "Penalty notice" if kind is Kind.PENALTY_NOTICE else "Notice to improve"
        return f"{word} {self.version.notice}"

    def to_whom(self) -> str:
        """``Jane Wood (mother, contact C-1)``."""
        parent_id = self.version.draft.parent
        if self.parent is None:
            return f"contact {parent_id} (no longer in the contacts)"
        relationship = f"{self.parent.relationship}, " if self.parent.relationship else ""
        return f"{self.parent.name} ({relationship}contact {parent_id})"

    def text(self, day_words: DayWords) -> str:
        """The step in one sentence, dates in ``day_words``."""
        v = self.version
        if not self.issued:
            note = f"; note: {v.note}" if v.note else ""
            return f"{self.title()} (issued to {self.to_whom()}): now {v.status.value}{note}"
        d = v.draft
        amounts = f"; {v.amounts.words()}" if v.amounts else ""
        note = f"; note: {v.note}" if v.note else ""
        return (
            f"{self.title()} issued on {day_words(d.issued_on)} to {self.to_whom()}: "
            f"{d.offence.value.replace('_', ' ')}, {sessions_words(d.sessions, v.codes, day_words)}"
            f"{amounts}{note}"
        )


def sessions_words(sessions: Sequence[Session], codes: Sequence[str], day_words: DayWords) -> str:
    """``10 sessions: 15 Sep 2025 AM and PM (G), ...`` in date order, each day once."""
    days: dict[date, list[tuple[str, str]]] = {}
    for s, code in sorted(zip(sessions, codes, strict=True)):
        days.setdefault(s.on, []).append((s.half, code))
    parts = []
    for day, halves in days.items():
        marks = ", ".join(sorted({c for _, c in halves}))
        parts.append(f"{day_words(day)} {' and '.join(h for h, _ in halves)} ({marks})")
    count = len(sessions)
    return f"{count} session{'s' if count != 1 else ''}: " + ", ".join(parts)


def notice_steps(
    versions: Iterable[NoticeVersion],
    parents: Mapping[str, Parent],
    zone: ZoneInfo,
) -> list[NoticeStep]:
    """Every version of the notices handed in, as steps in the order they are placed."""
    out = []
    for v in versions:
        recorded_on = v.recorded_at.astimezone(zone).date()
        if v.version == 1:
            on = v.draft.issued_on
            day_ends = datetime.combine(on + timedelta(days=1), time(), zone) - timedelta(
                microseconds=1
            )
            placed = min(v.recorded_at, day_ends)
        else:
            on, placed = recorded_on, v.recorded_at
        out.append(NoticeStep(v, parents.get(v.draft.parent), on, placed))
    out.sort(key=lambda s: (s.placed, s.version.notice, s.version.version))
    return out


def interleave(
    items: Sequence[T], extra: Sequence[T], key: Callable[[T], tuple[date, datetime]]
) -> list[T]:
    """``items`` in their own order (a history's order is its own: never re-sorted), with each
    of ``extra`` (in order) put before the first item that comes after it by ``key``."""
    out: list[T] = []
    pending = list(extra)
    for item in items:
        while pending and key(pending[0]) < key(item):
            out.append(pending.pop(0))
        out.append(item)
    return out + pending
