"""Moving open cases onto another version of their flow, each move recorded as ``flow_migrated``.

An open case runs under the flow version it was opened under, even after the school changes its
flow file (``service.versions``); only a recorded migration moves it. A move keeps the case's
state, open tasks and timers, so the new version must have that state; a case in a state the new
version lacks waits until it reaches one both share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from escalation_flow.adapters.store.audit_store import (
    flow_from_text,
    flow_texts,
    store_flow_version,
)
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.cases import CASES, load_case, school_id
from escalation_flow.audit.inputs import AuditSource
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.case import apply
from escalation_flow.core.decisions import FlowMigrated
from escalation_flow.core.definition import Flow
from escalation_flow.errors import ActionError
from escalation_flow.staff_ids import staff_id
from escalation_flow.stored import OPEN, CaseChange, StoredCase

#: ``--to-version current``: the version of the school's flow file now
CURRENT = "current"


@dataclass
class SchoolMigration:
    """What ``case migrate --all`` did: cases moved, and cases left where they are, with why."""

    school: str
    to_version: str
    moved: list[FlowMigrated] = field(default_factory=list)
    pupils: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)  # pupil -> why it stays


def migrate_case(
    source: AuditSource,
    school: str,
    pupil: str,
    *,
    to_version: str,
    by: str,
    reason: str,
    now: datetime,
    worker: str = "cli",
) -> FlowMigrated:
    """Move one open case onto another stored version of its flow (``to_version``: a unique
    prefix of at least 8 characters, or ``current``); refused, with why, when it cannot move."""
    by, reason = _who_and_why(by, reason)
    key = source.trust.resolve_school(school)
    with source.store.engine.begin() as conn:
        target = _target(conn, source, key, to_version, now)
        sid = school_id(conn, key)
        stored = load_case(conn, sid, key, pupil)
        why_not = _cannot_move(stored, target)
        if why_not:
            raise ActionError(f"{key}/{pupil}: {why_not}")
        calendar = source.trust.calendar(key)
        return _move(conn, sid, key, stored, target, by, reason, now, worker, calendar)


def migrate_school(
    source: AuditSource,
    school: str,
    *,
    to_version: str,
    by: str,
    reason: str,
    now: datetime,
    worker: str = "cli",
    dry_run: bool = False,
) -> SchoolMigration:
    """Move every open case of the school that is on another version onto ``to_version``, in
    one transaction; cases in a state the target lacks stay, each named with why. ``dry_run``:
    the same report, and the transaction rolled back."""
    by, reason = _who_and_why(by, reason)
    key = source.trust.resolve_school(school)
    calendar = source.trust.calendar(key)
    with source.store.engine.connect() as conn, conn.begin() as transaction:
        target = _target(conn, source, key, to_version, now)
        report = SchoolMigration(key, target.version)
        sid = school_id(conn, key)
        c = CASES.c
        pupils = conn.execute(
            select(c.pupil)
            .where(c.school_id == sid, c.status == OPEN, c.flow_version != target.version)
            .order_by(c.pupil)
        ).scalars()
        for pupil in list(pupils):
            stored = load_case(conn, sid, key, pupil)
            why_not = _cannot_move(stored, target)
            if why_not:
                report.left[pupil] = why_not
                continue
            report.moved.append(
                _move(conn, sid, key, stored, target, by, reason, now, worker, calendar)
            )
            report.pupils.append(pupil)
        if dry_run:
            transaction.rollback()
    return report


def _who_and_why(by: str, reason: str) -> tuple[str, str]:
    if not reason.strip():
        raise ActionError("a flow migration needs a reason")
    return staff_id(by), reason.strip()


def _target(
    conn: Connection, source: AuditSource, school: str, to_version: str, now: datetime
) -> Flow:
    current = source.school_flow(school)
    store_flow_version(conn, current, now)  # so that ``current`` is a stored version too
    if to_version.strip().lower() == CURRENT:
        return current
    return _version(conn, to_version)


def _cannot_move(stored: StoredCase, target: Flow) -> str | None:
    case = stored.case
    if stored.id is None or not case.is_open:
        return "no open case to migrate"
    if case.flow_version == target.version:
        return f"the case is on flow version {target.version[:12]} already"
    if case.flow and target.id != case.flow:
        return f"version {target.version[:12]} is of flow {target.id}, not {case.flow}"
    if case.state not in target.states:
        return (
            f"the case is in {case.state}, which flow version {target.version[:12]} does not "
            "have: migrate it after it moves to a state both versions share"
        )
    return None


def _move(
    conn: Connection,
    sid: int,
    school: str,
    stored: StoredCase,
    target: Flow,
    by: str,
    reason: str,
    now: datetime,
    worker: str,
    calendar: SchoolCalendar,
) -> FlowMigrated:
    case = stored.case
    day = calendar.next_school_day_on_or_after(now.astimezone(ZoneInfo(calendar.timezone)).date())
    decision = FlowMigrated(
        on=day, at=now, from_version=case.flow_version, to_version=target.version, by=by,
        reason_text=reason,
    )  # fmt: skip
    writer = HistoryWriter(
        conn, school_id=sid, school=school, flow=target.id, flow_version=target.version,
        now=now, worker=worker,
    )  # fmt: skip
    writer.write([CaseChange(stored, [decision], apply(case, decision), by)])
    return decision


def _version(conn: Connection, prefix: str) -> Flow:
    texts = flow_texts(conn)
    found = [v for v in texts if v.startswith(prefix.strip().lower())]
    if len(prefix.strip()) < 8 or len(found) != 1:
        known = ", ".join(v[:12] for v in sorted(texts)) or "none"
        raise ActionError(
            f"{prefix!r} names no single stored flow version (give at least 8 characters, or "
            f"'current' for the school's flow file now; stored: {known})"
        )
    return flow_from_text(texts[found[0]], found[0])
