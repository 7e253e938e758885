"""``MemoryTransaction``: the ``ports.CaseTransaction`` over the memory store's tables.

Each method answers as ``adapters/store/transaction.SqlTransaction`` does (the same rows, the
same order, the same ``NotFoundError`` messages), on the copy of the tables the unit of work
began from; ``MemoryStore`` keeps the copy only if the block ends without an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from escalation_flow.adapters.memory.desk import TasksAndLetters
from escalation_flow.adapters.memory.flow_texts import FlowTexts
from escalation_flow.adapters.memory.tables import (
    AuditRec,
    FamilyEveningRec,
    FlowVersionRec,
    SchoolDayRec,
    Tables,
    TimerRec,
    by_id,
    joined,
    utc,
)
from escalation_flow.adapters.memory.writer import MemoryHistoryWriter, late_seconds
from escalation_flow.core.case import Case
from escalation_flow.core.definition import Flow
from escalation_flow.core.family_facts import SchoolEvening, evening_of, kept_rows
from escalation_flow.errors import NotFoundError, StoreError
from escalation_flow.ports import AuditNote
from escalation_flow.stored import (
    OPEN,
    TIMER_FIRED,
    TIMER_PENDING,
    DueTimer,
    HistoryRow,
    SchoolActivity,
    SchoolDayState,
    StoredCase,
)


class MemoryTransaction(TasksAndLetters):
    """The cases' unit of work on a copy of the memory store's tables (``ports.CaseTransaction``)."""

    def __init__(self, tables: Tables, flows: FlowTexts) -> None:
        self.t = tables
        self.flows = flows

    # -- schools and school days ------------------------------------------------------------

    def school_id(self, school: str) -> int:
        found = self.t.schools.get(school)
        if found is None:
            raise NotFoundError(f"school {school!r} is not in the store; import its marks first")
        return found.id

    def school_key(self, school_id: int) -> str:
        return self.t.school_key(school_id)

    def evaluated(self, school_id: int, day: date) -> SchoolDayRec | None:
        return self.t.school_days.get((school_id, day))

    def last_evaluation(self, school_id: int) -> SchoolDayRec | None:
        rows = [r for r in self.t.school_days.values() if r.school_id == school_id]
        return max(rows, key=lambda r: (r.evaluated_at, r.day), default=None)

    def school_day(self, school: str, day: date) -> SchoolDayState:
        school_id = self.school_id(school)
        done, last = self.evaluated(school_id, day), self.last_evaluation(school_id)
        days = [r.day for r in self.t.school_days.values() if r.school_id == school_id]
        return SchoolDayState(
            school_id,
            None if done is None else done.evaluated_at,
            None if last is None else last.evaluated_at,
            max(days, default=None),
        )

    def record_school_day(
        self, school_id: int, day: date, now: datetime, decisions: int, worker: str
    ) -> None:
        self.t.written = True
        self.t.school_days[(school_id, day)] = SchoolDayRec(
            school_id, day, utc(now), decisions, worker
        )

    def last_evaluated_days(self) -> dict[str, date]:
        out: dict[str, date] = {}
        for row in self.t.school_days.values():
            key = self.t.school_key(row.school_id)
            out[key] = max(out.get(key, row.day), row.day)
        return out

    def record_family_evening(
        self, school_id: int, day: date, now: datetime, evening: SchoolEvening
    ) -> bool:
        if (school_id, day) in self.t.family_evenings:
            return False
        self.t.written = True
        kept = evening_of(evening.school, kept_rows(evening))  # what the SQL store would read
        self.t.family_evenings[(school_id, day)] = FamilyEveningRec(
            school_id, day, utc(now), kept
        )
        return True

    def family_evenings(self, before: date, cut: datetime) -> list[SchoolEvening]:
        latest: dict[int, FamilyEveningRec] = {}
        for rec in self.t.family_evenings.values():
            if rec.day >= before or rec.recorded_at >= cut:
                continue
            if rec.school_id not in latest or latest[rec.school_id].day < rec.day:
                latest[rec.school_id] = rec
        found = [
            dataclasses.replace(rec.evening, school=self.t.school_key(sid))
            for sid, rec in latest.items()
        ]
        return sorted(found, key=lambda e: e.school)

    # -- cases and their history ------------------------------------------------------------

    def load_cases(
        self,
        school_id: int,
        school: str,
        pupils: Collection[str] | None = None,
        *,
        status: str | None = None,
    ) -> dict[str, StoredCase]:
        wanted = None if pupils is None else set(pupils)
        return {
            row.pupil: StoredCase(row.id, row.case, row.head_hash)
            for row in self.t.cases.values()
            if row.school_id == school_id
            and (wanted is None or row.pupil in wanted)
            and (status is None or row.status == status)
        }

    def load_case(self, school_id: int, school: str, pupil: str) -> StoredCase:
        found = self.load_cases(school_id, school, [pupil])
        return found.get(pupil) or StoredCase(None, Case(school=school, pupil=pupil))

    def pupils_with_cases(self, school_id: int, status: str) -> set[str]:
        return {
            r.pupil
            for r in self.t.cases.values()
            if r.school_id == school_id and r.status == status
        }

    def case_row(self, school_id: int, pupil: str) -> Any:
        case_id = self.t.case_of.get((school_id, pupil))
        return None if case_id is None else self.t.cases[case_id]

    def history(self, case_id: int) -> list[HistoryRow]:
        return list(self.t.events.get(case_id, ()))

    def histories(
        self, case_ids: Collection[int], types: Collection[str] | None = None
    ) -> dict[int, list[HistoryRow]]:
        out = {
            i: [r for r in self.t.events.get(i, ()) if types is None or r.type in types]
            for i in set(case_ids)
        }
        return {i: rows for i, rows in out.items() if rows}

    def case_lines(self, school_id: int, status: str | None) -> list[SimpleNamespace]:
        rows = [
            r
            for r in self.t.cases.values()
            if r.school_id == school_id and (status is None or r.status == status)
        ]
        # highest stage first, open before closed (the SQL store's ``status DESC``)
        rows.sort(key=lambda r: r.pupil)
        rows.sort(key=lambda r: (r.status, r.stage), reverse=True)
        return [
            joined(r, openings=sum(e.type == "case_opened" for e in self.t.events.get(r.id, ())))
            for r in rows
        ]

    def recorded_before(
        self, case_id: int, name: str, outcome: str | None, by: str | None, at: datetime
    ) -> bool:
        for row in self.t.events.get(case_id, ()):
            if row.at != at or row.type not in ("task_completed", "event_recorded"):
                continue
            event = json.loads(row.body)
            found = event.get("task") or event.get("event")
            same_outcome = outcome is None or event.get("outcome") == outcome
            if found == name and event.get("by") == by and same_outcome:
                return True
        return False

    def history_writer(
        self,
        *,
        school_id: int,
        school: str,
        flow: str,
        flow_version: str,
        now: datetime,
        worker: str,
    ) -> MemoryHistoryWriter:
        return MemoryHistoryWriter(
            self.t, school_id=school_id, school=school, flow=flow, flow_version=flow_version,
            now=now, worker=worker,
        )  # fmt: skip

    # -- flow versions ------------------------------------------------------------------------

    def store_flow_version(self, flow: Flow, now: datetime) -> bool:
        if flow.version in self.t.flow_versions:
            return False
        try:
            raw = (
                flow.text.encode("utf-8") if flow.text is not None else Path(flow.path).read_bytes()
            )
        except OSError as exc:
            raise StoreError(f"cannot keep flow {flow.id}: {flow.path}: {exc.strerror}") from exc
        if hashlib.sha256(raw).hexdigest() != flow.version:
            raise StoreError(
                f"flow file {flow.path} changed since it was loaded as version "
                f"{flow.version[:12]}; reload it before evaluating"
            )
        self.t.written = True
        self.t.flow_versions[flow.version] = FlowVersionRec(
            flow.version, flow.id, raw.decode("utf-8"), utc(now)
        )
        return True

    def load_flow_versions(self, versions: Collection[str]) -> dict[str, Flow]:
        return {
            v: self.flows.flow(v, self.t.flow_versions[v].yaml)
            for v in versions
            if v in self.t.flow_versions
        }

    # -- timers -----------------------------------------------------------------------------

    def due_timers(self, now: datetime) -> list[DueTimer]:
        pending = [m for m in self.t.timers.values() if m.status == TIMER_PENDING]
        due = [
            DueTimer(
                m.id,
                m.case_id,
                m.key,
                m.fire_at,
                self.t.school_key(m.school_id),
                m.school_id,
                self.t.cases[m.case_id].pupil,
            )
            for m in pending
            if m.fire_at <= now
        ]
        return sorted(due, key=lambda d: (d.fire_at, d.school, d.pupil, d.key))

    def claim_timer(self, timer_id: int, now: datetime, worker: str) -> int | None:
        timer = self.t.timers.get(timer_id)
        if timer is None or timer.status != TIMER_PENDING:
            return None
        self.t.written = True
        now = utc(now)
        self.t.timers[timer_id] = dataclasses.replace(
            timer, status=TIMER_FIRED, fired_at=now,
            late_seconds=late_seconds(now, timer.fire_at), claimed_by=worker,
        )  # fmt: skip
        return self.t.cases[timer.case_id].length

    def claim_timers(self, timer_ids: Sequence[int], now: datetime, worker: str) -> dict[int, int]:
        claimed = {i: self.claim_timer(i, now, worker) for i in sorted(set(timer_ids))}
        return {i: length for i, length in claimed.items() if length is not None}

    def pending_fire_times(self, after: datetime | None, limit: int) -> list[datetime]:
        times = {
            m.fire_at
            for m in self.t.timers.values()
            if m.status == TIMER_PENDING and (after is None or m.fire_at > after)
        }
        return sorted(times)[:limit]

    def case_timers(self, case_id: int) -> list[TimerRec]:
        return sorted((m for m in self.t.timers.values() if m.case_id == case_id), key=by_id)

    def pending_timer_count(self) -> int:
        return sum(m.status == TIMER_PENDING for m in self.t.timers.values())

    def overdue_timers(self, now: datetime) -> list[SimpleNamespace]:
        rows = [
            joined(m, pupil=self.t.cases[m.case_id].pupil, school=self.t.school_key(m.school_id))
            for m in self.t.timers.values()
            if m.status == TIMER_PENDING and m.fire_at <= now
        ]
        return sorted(rows, key=lambda r: (r.fire_at, r.school, r.pupil))

    # -- status -----------------------------------------------------------------------------

    def open_case_versions(self) -> list[tuple[str, str, int]]:
        counted = Counter(
            (self.t.school_key(c.school_id), c.flow_version)
            for c in self.t.cases.values()
            if c.status == OPEN
        )
        return [(school, version, n) for (school, version), n in sorted(counted.items())]

    def school_activity(self) -> list[SchoolActivity]:
        out = []
        for key, school in sorted(self.t.schools.items()):
            days = [r for r in self.t.school_days.values() if r.school_id == school.id]
            marks = self.t.marks.get(school.id, ())
            out.append(
                SchoolActivity(
                    school=key,
                    last_day=max((r.day for r in days), default=None),
                    evaluated_at=max((r.evaluated_at for r in days), default=None),
                    last_import_at=max((m.imported_at for m in marks), default=None),
                    last_mark_day=max((m.day for m in marks), default=None),
                )
            )
        return out

    # -- the staff audit log ----------------------------------------------------------------

    def audit(
        self, note: AuditNote, now: datetime, *, school: str | None, pupil: str | None
    ) -> None:
        self.t.written = True
        entry = AuditRec(
            at=utc(now), actor=note.actor[:64], action=note.action, school=school, pupil=pupil,
            detail=note.detail, ip=None if note.ip is None else note.ip[:64],
        )  # fmt: skip
        self.t.audit = (*self.t.audit, entry)
