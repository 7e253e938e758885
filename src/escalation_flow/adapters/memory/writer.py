"""``MemoryHistoryWriter``: what the engine decided, written into the memory store's tables.

The same rows as ``adapters/store/case_writer.HistoryWriter`` writes, hashed onto each case's
chain with ``core/chain`` (so a chain written here verifies as a SQL one does), and refused on
the same conditions: a case whose history is no longer as long as when it was read, a task or
timer no longer open or pending, a key written twice. A refusal raises ``ConflictError``; the
unit of work then leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NoReturn

from escalation_flow.adapters.memory.tables import CaseRec, Tables, TaskRec, TimerRec, utc
from escalation_flow.core.chain import ChainLink, body_of
from escalation_flow.core.decisions import (
    ActionUndone,
    Decision,
    TaskCompleted,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
    TimerFired,
)
from escalation_flow.core.undo import reversed_rows, superseded_why
from escalation_flow.errors import ConflictError
from escalation_flow.stored import (
    CLOSED,
    LETTER_APPROVED,
    LETTER_PREPARED,
    LETTER_SENT,
    LETTER_SUPERSEDED,
    OPEN,
    TASK_DONE,
    TASK_OPEN,
    TASK_SUPERSEDED,
    TIMER_CANCELLED,
    TIMER_FIRED,
    TIMER_PENDING,
    CaseChange,
    CreatedTask,
    HistoryRow,
    Written,
)

LETTER = "letter"


def late_seconds(now: datetime, fire_at: datetime) -> int:
    """Whole seconds a timer fired after its ``fire_at`` (the SQL store's ``late_seconds``)."""
    return max(0, int((now - fire_at).total_seconds()))


class MemoryHistoryWriter:
    """Writes changes for one school into ``tables`` (a unit of work's copy), stamped ``now``."""

    def __init__(
        self,
        tables: Tables,
        *,
        school_id: int,
        school: str,
        flow: str,
        flow_version: str,
        now: datetime,
        worker: str,
    ) -> None:
        self.t = tables
        self.school_id = school_id
        self.school = school
        self.flow = flow
        self.flow_version = flow_version
        self.now = utc(now)
        self.worker = worker

    def write(
        self, changes: Sequence[CaseChange], *, claimed: Collection[tuple[str, str]] = ()
    ) -> Written:
        """``claimed``: (pupil, timer key) of timers already flipped to fired by their claim."""
        changes = [c for c in changes if c.decisions]
        if changes:
            self.t.written = True
        case_ids: dict[str, int] = {}
        heads: dict[str, str] = {}
        created: list[CreatedTask] = []
        records = 0
        for change in changes:
            chain = self._chain(change)
            case_id = self._case(change, chain[-1].hash)
            case_ids[change.after.pupil] = case_id
            heads[change.after.pupil] = chain[-1].hash
            self.t.events[case_id] = (*self.t.events.get(case_id, ()), *chain)
            records += len(chain)
            created += self._tasks(change, case_id)
            self._timers(change, case_id, claimed)
            self._undo(change, case_id)
        return Written(case_ids, created, records, heads)

    # -- cases and their history ---------------------------------------------------------------

    def _chain(self, change: CaseChange) -> list[HistoryRow]:
        """The history rows of a change, hashed onto its case's chain."""
        rows: list[HistoryRow] = []
        previous, seq = change.before.head_hash, change.before.length
        name = f"{self.school}/{change.after.pupil}"
        for d in change.decisions:
            seq += 1
            link = ChainLink(
                case=name, seq=seq, on=d.on, at=utc(d.at), type=d.type, body=body_of(d),
                flow_version=self.flow_version, actor=change.actor, recorded_at=self.now,
                prev_hash=previous,
            )  # fmt: skip
            previous = link.hash()
            fields_ = {k: v for k, v in link.__dict__.items() if k != "case"}
            rows.append(HistoryRow(**fields_, hash=previous))
        return rows

    def _case(self, change: CaseChange, head: str) -> int:
        after, before = change.after, change.before
        key = (self.school_id, after.pupil)
        if before.id is None:
            if key in self.t.case_of:
                self._conflict()
            case_id = self.t.next_id("cases")
            self.t.case_of[key] = case_id
        else:
            case_id = before.id
            row = self.t.cases.get(case_id)
            if row is None or row.length != before.length:
                self._conflict()
        self.t.cases[case_id] = CaseRec(
            id=case_id,
            school_id=self.school_id,
            pupil=after.pupil,
            flow=after.flow or self.flow,
            flow_version=after.flow_version or self.flow_version,
            status=OPEN if after.is_open else CLOSED,
            stage=after.stage if after.is_open else 0,
            state=after.state,
            opened_on=after.opened_on,
            closed_on=after.closed_on,
            updated_at=self.now,
            length=after.length,
            head_hash=head,
            case=after,
        )
        return case_id

    # -- tasks, letters, timers ----------------------------------------------------------------

    def _tasks(self, change: CaseChange, case_id: int) -> list[CreatedTask]:
        kinds = {t.key: t.kind for t in change.before.case.tasks}
        created: list[CreatedTask] = []
        for d in change.decisions:
            if isinstance(d, TaskCreated):
                kinds[d.task_key] = d.kind
                created.append(self._new_task(change, case_id, d))
            elif isinstance(d, TaskCompleted):
                task = self._open_task(case_id, d.task_key)
                self.t.tasks[task.id] = dataclasses.replace(
                    task, status=TASK_DONE, completed_at=utc(d.at), completed_by=d.by,
                    outcome=d.outcome, note=d.note,
                )  # fmt: skip
                if kinds.get(d.task_key) == LETTER:  # any outcome: the letter has gone
                    self._letter(task.id, LETTER_SENT, d.by, utc(d.at))
            elif isinstance(d, TaskSuperseded):
                task = self._open_task(case_id, d.task_key)
                self.t.tasks[task.id] = dataclasses.replace(
                    task, status=TASK_SUPERSEDED, superseded_why=d.why
                )
                if kinds.get(d.task_key) == LETTER:
                    self._letter(task.id, LETTER_SUPERSEDED)
        return created

    def _new_task(self, change: CaseChange, case_id: int, d: TaskCreated) -> CreatedTask:
        if any(t.case_id == case_id and t.key == d.task_key for t in self.t.tasks.values()):
            self._conflict()
        task_id = self.t.next_id("tasks")
        self.t.tasks[task_id] = TaskRec(
            id=task_id, case_id=case_id, school_id=self.school_id, pupil=change.after.pupil,
            key=d.task_key, task=d.task, role=d.role, kind=d.kind, template=d.template,
            approval=d.approval, status=TASK_OPEN, due=d.due, created_on=d.on,
            created_at=utc(d.at),
        )  # fmt: skip
        return CreatedTask(task_id, case_id, change.after.pupil, d, change.after)

    def _open_task(self, case_id: int, key: str) -> TaskRec:
        for task in self.t.tasks.values():
            if task.case_id == case_id and task.key == key and task.status == TASK_OPEN:
                return task
        return self._conflict()

    def _letter(
        self, task_id: int, status: str, by: str | None = None, at: datetime | None = None
    ) -> None:
        """The task's letter, while prepared or approved, moved on (sent or superseded)."""
        for letter in list(self.t.letters.values()):
            if letter.task_id != task_id or letter.status not in (LETTER_PREPARED, LETTER_APPROVED):
                continue
            moved = dataclasses.replace(letter, status=status)
            if status == LETTER_SENT:
                moved = dataclasses.replace(moved, sent_by=by, sent_at=at)
            self.t.letters[letter.id] = moved

    def _timers(
        self, change: CaseChange, case_id: int, claimed: Collection[tuple[str, str]]
    ) -> None:
        for d in change.decisions:
            if isinstance(d, TimerArmed):
                self._arm(case_id, d)
            elif isinstance(d, TimerFired) and (change.after.pupil, d.timer_key) not in claimed:
                # Fired by a school day's run (a backfill, or one the scheduler had not reached)
                timer = self._pending(case_id, d)
                self.t.timers[timer.id] = dataclasses.replace(
                    timer, status=TIMER_FIRED, fired_at=self.now,
                    late_seconds=late_seconds(self.now, timer.fire_at), claimed_by=self.worker,
                )  # fmt: skip
            elif isinstance(d, TimerCancelled):
                timer = self._pending(case_id, d)
                self.t.timers[timer.id] = dataclasses.replace(timer, status=TIMER_CANCELLED)

    def _undo(self, change: CaseChange, case_id: int) -> None:
        """Tasks and timers put back as an undone action found them (``core.undo``)."""
        correction = next((d for d in change.decisions if isinstance(d, ActionUndone)), None)
        if correction is None:
            return
        made, reopen, armed, rearm = reversed_rows(change.undone)
        for task in list(self.t.tasks.values()):
            if task.case_id != case_id:
                continue
            if task.key in made:
                if task.status != TASK_OPEN:
                    self._conflict()
                why = superseded_why(correction)
                self.t.tasks[task.id] = dataclasses.replace(
                    task, status=TASK_SUPERSEDED, superseded_why=why
                )
                if task.kind == LETTER:
                    self._letter(task.id, LETTER_SUPERSEDED)
            elif task.key in reopen:
                if task.status not in (TASK_DONE, TASK_SUPERSEDED):
                    self._conflict()
                self.t.tasks[task.id] = dataclasses.replace(
                    task, status=TASK_OPEN, completed_at=None, completed_by=None, outcome=None,
                    note=None, superseded_why=None,
                )  # fmt: skip
                if task.status == TASK_SUPERSEDED:
                    self._letter_back(task.id)
        for timer in list(self.t.timers.values()):
            if timer.case_id != case_id:
                continue
            if timer.key in armed:
                if timer.status != TIMER_PENDING:
                    self._conflict()
                self.t.timers[timer.id] = dataclasses.replace(timer, status=TIMER_CANCELLED)
            elif timer.key in rearm:
                if timer.status != TIMER_CANCELLED:
                    self._conflict()
                self.t.timers[timer.id] = dataclasses.replace(timer, status=TIMER_PENDING)

    def _letter_back(self, task_id: int) -> None:
        """A letter superseded with its task, prepared or approved again (as it was)."""
        for letter in list(self.t.letters.values()):
            if letter.task_id == task_id and letter.status == LETTER_SUPERSEDED:
                status = LETTER_PREPARED if letter.approved_by is None else LETTER_APPROVED
                self.t.letters[letter.id] = dataclasses.replace(letter, status=status)

    def _arm(self, case_id: int, d: TimerArmed) -> None:
        if any(m.case_id == case_id and m.key == d.timer_key for m in self.t.timers.values()):
            self._conflict()
        timer_id = self.t.next_id("timers")
        self.t.timers[timer_id] = TimerRec(
            id=timer_id, case_id=case_id, school_id=self.school_id, key=d.timer_key,
            timer=d.timer, due=d.due, fire_at=utc(d.fire_at), rule=d.rule,
            calendar_version=d.calendar_version, status=TIMER_PENDING, armed_at=utc(d.at),
        )  # fmt: skip

    def _pending(self, case_id: int, d: Decision) -> TimerRec:
        key = getattr(d, "timer_key", None)
        for timer in self.t.timers.values():
            if timer.case_id == case_id and timer.key == key and timer.status == TIMER_PENDING:
                return timer
        return self._conflict()

    def _conflict(self) -> NoReturn:
        raise ConflictError(
            f"school {self.school}: a case, task or timer was changed by someone else at the "
            "same time; nothing was written, try again"
        )
