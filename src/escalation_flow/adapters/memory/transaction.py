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
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from escalation_flow.adapters.memory.flow_texts import FlowTexts
from escalation_flow.adapters.memory.tables import (
    AuditRec,
    FlowVersionRec,
    LetterRec,
    SchoolDayRec,
    Tables,
    TaskRec,
    TimerRec,
    joined,
    utc,
)
from escalation_flow.adapters.memory.writer import MemoryHistoryWriter, late_seconds
from escalation_flow.core.case import Case
from escalation_flow.core.definition import Flow
from escalation_flow.core.school_day import UniversalTask
from escalation_flow.errors import ConflictError, NotFoundError, StoreError
from escalation_flow.ports import AuditNote
from escalation_flow.stored import (
    LETTER_APPROVED,
    LETTER_PREPARED,
    OPEN,
    TASK_DONE,
    TASK_LAPSED,
    TASK_OPEN,
    TIMER_FIRED,
    TIMER_PENDING,
    DueTimer,
    HistoryRow,
    SchoolActivity,
    StoredCase,
)


class MemoryTransaction:
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

    def pending_fire_times(self, after: datetime | None, limit: int) -> list[datetime]:
        times = {
            m.fire_at
            for m in self.t.timers.values()
            if m.status == TIMER_PENDING and (after is None or m.fire_at > after)
        }
        return sorted(times)[:limit]

    def case_timers(self, case_id: int) -> list[TimerRec]:
        return sorted((m for m in self.t.timers.values() if m.case_id == case_id), key=_id)

    def pending_timer_count(self) -> int:
        return sum(m.status == TIMER_PENDING for m in self.t.timers.values())

    def overdue_timers(self, now: datetime) -> list[SimpleNamespace]:
        rows = [
            joined(m, pupil=self.t.cases[m.case_id].pupil, school=self.t.school_key(m.school_id))
            for m in self.t.timers.values()
            if m.status == TIMER_PENDING and m.fire_at <= now
        ]
        return sorted(rows, key=lambda r: (r.fire_at, r.school, r.pupil))

    # -- tasks ------------------------------------------------------------------------------

    def task_row(self, task_id: int) -> TaskRec:
        found = self.t.tasks.get(task_id)
        if found is None:
            raise NotFoundError(f"no task {task_id}")
        return found

    def task_id_by_key(self, case_id: int, key: str | None) -> int | None:
        return next(
            (t.id for t in self.t.tasks.values() if t.case_id == case_id and t.key == key), None
        )

    def open_tasks(
        self,
        school_ids: Sequence[int] | None,
        role: str | None,
        due_by: date | None,
        include_universal: bool,
    ) -> list[SimpleNamespace]:
        rows = []
        for t in self.t.tasks.values():
            if t.status != TASK_OPEN or (school_ids is not None and t.school_id not in school_ids):
                continue
            if (role is not None and t.role != role) or (due_by is not None and t.due > due_by):
                continue
            if t.case_id is None and not include_universal:
                continue
            letter = self._letter_of(t.id)
            rows.append(
                joined(
                    t, school=self.t.school_key(t.school_id),
                    letter_id=letter.id if letter else None,
                    letter_status=letter.status if letter else None,
                )
            )  # fmt: skip
        return sorted(rows, key=lambda r: (r.due, r.school, r.pupil, r.id))

    def case_tasks(self, case_id: int) -> list[TaskRec]:
        return sorted((t for t in self.t.tasks.values() if t.case_id == case_id), key=_id)

    def complete_open_task(
        self, task_id: int, at: datetime, by: str, outcome: str, note: str | None
    ) -> bool:
        task = self.t.tasks.get(task_id)
        if task is None or task.status != TASK_OPEN:
            return False
        self.t.written = True
        self.t.tasks[task_id] = dataclasses.replace(
            task, status=TASK_DONE, completed_at=utc(at), completed_by=by, outcome=outcome,
            note=note,
        )  # fmt: skip
        return True

    def insert_universal_tasks(
        self,
        school_id: int,
        tasks: Sequence[UniversalTask],
        kinds: Mapping[str, str],
        now: datetime,
    ) -> int:
        taken = {(t.school_id, t.pupil, t.key) for t in self.t.tasks.values()}
        for u in tasks:
            key = f"{u.task}@{u.on.isoformat()}"
            if (school_id, u.pupil, key) in taken:
                continue  # the SQL store's ON CONFLICT DO NOTHING
            self.t.written = True
            task_id = self.t.next_id("tasks")
            self.t.tasks[task_id] = TaskRec(
                id=task_id, case_id=None, school_id=school_id, pupil=u.pupil, key=key,
                task=u.task, role=u.role, kind=kinds.get(u.task, "other"), template=None,
                approval=False, status=TASK_OPEN, due=u.due, created_on=u.on, created_at=utc(now),
            )  # fmt: skip
            taken.add((school_id, u.pupil, key))
        return len(tasks)

    def lapse_universal_tasks(
        self, school_id: int, lapse_on: Mapping[str, Callable[[date], date]], day: date
    ) -> int:
        lapsed = 0
        for t in list(self.t.tasks.values()):
            if t.school_id != school_id or t.case_id is not None or t.status != TASK_OPEN:
                continue
            if t.task not in lapse_on or (on := lapse_on[t.task](t.due)) > day:
                continue
            self.t.written = True
            why = f"lapsed: not done by {on.isoformat()}"
            self.t.tasks[t.id] = dataclasses.replace(t, status=TASK_LAPSED, superseded_why=why)
            lapsed += 1
        return lapsed

    def lapsed_task_counts(self) -> dict[str, int]:
        counted = Counter(t.task for t in self.t.tasks.values() if t.status == TASK_LAPSED)
        return dict(sorted(counted.items()))

    # -- letters ----------------------------------------------------------------------------

    def insert_letters(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        ids = []
        for row in rows:
            if self._letter_of(row["task_id"]) is not None:
                raise ConflictError(f"task {row['task_id']} has a letter already")
            self.t.written = True
            letter_id = self.t.next_id("letters")
            values = {**row, "prepared_at": utc(row["prepared_at"])}
            self.t.letters[letter_id] = LetterRec(id=letter_id, **values)
            ids.append(letter_id)
        return ids

    def letter_row(self, letter_id: int) -> LetterRec:
        found = self.t.letters.get(letter_id)
        if found is None:
            raise NotFoundError(f"no letter {letter_id}")
        return found

    def letter_of_task(self, task_id: int) -> LetterRec | None:
        return self._letter_of(task_id)

    def letter_status_of_task(self, task_id: int) -> SimpleNamespace | None:
        letter = self._letter_of(task_id)
        return None if letter is None else SimpleNamespace(id=letter.id, status=letter.status)

    def letter_task(self, task_id: int) -> SimpleNamespace:
        task = self.task_row(task_id)
        return SimpleNamespace(
            approval=task.approval, pupil=task.pupil, key=self.t.school_key(task.school_id)
        )

    def school_of_case(self, case_id: int) -> str:
        return self.t.school_key(self.t.cases[case_id].school_id)

    def approve_letter(self, letter_id: int, by: str, now: datetime) -> bool:
        letter = self.t.letters.get(letter_id)
        if letter is None or letter.status != LETTER_PREPARED:
            return False
        self.t.written = True
        self.t.letters[letter_id] = dataclasses.replace(
            letter, status=LETTER_APPROVED, approved_by=by, approved_at=utc(now)
        )
        return True

    def keep_letter_pdf(self, letter_id: int, pdf: bytes) -> None:
        letter = self.t.letters.get(letter_id)
        if letter is not None and letter.pdf is None:
            self.t.written = True
            self.t.letters[letter_id] = dataclasses.replace(letter, pdf=pdf)

    def letters_without_pdf(self, limit: int | None) -> list[LetterRec]:
        rows = sorted((r for r in self.t.letters.values() if r.pdf is None), key=_id)
        return rows if limit is None else rows[:limit]

    def _letter_of(self, task_id: int) -> LetterRec | None:
        return next((r for r in self.t.letters.values() if r.task_id == task_id), None)

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


def _id(row: TaskRec | TimerRec | LetterRec) -> int:
    return row.id
