"""Tasks and letters in the memory store: the part of ``MemoryTransaction`` that answers for the
``tasks`` and ``letters`` tables (worklists, completing a task without a case, the letter desk).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from escalation_flow.adapters.memory.tables import LetterRec, Tables, TaskRec, by_id, joined, utc
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.school_day import UniversalTask
from escalation_flow.errors import ConflictError, NotFoundError
from escalation_flow.stored import (
    LETTER_APPROVED,
    LETTER_PREPARED,
    TASK_DONE,
    TASK_LAPSED,
    TASK_OPEN,
)


class TasksAndLetters:
    """``ports.CaseTransaction``'s task and letter methods over a unit of work's tables."""

    t: Tables

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
        return sorted((t for t in self.t.tasks.values() if t.case_id == case_id), key=by_id)

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
                covers=",".join(u.covers) if u.covers else None,
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

    def contacts_of(self, school: str, pupils: Collection[str]) -> list[ContactVersion]:
        """Every version of the pupils' contacts at ``school`` (the SQL store's
        ``read_pupil_versions``), for addressing the letters."""
        wanted = set(pupils)
        return [c for c in self.t.contacts if c.school == school and c.pupil in wanted]

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

    def keep_letter_pdf(
        self, letter_id: int, pdf: bytes, now: datetime, figures: str | None = None
    ) -> bool:
        letter = self.t.letters.get(letter_id)
        if (
            letter is not None
            and letter.pdf is None
            and (figures is None or letter.figures == figures)
        ):
            self.t.written = True
            self.t.letters[letter_id] = dataclasses.replace(letter, pdf=pdf)
            return True
        return False

    def letters_without_pdf(self, limit: int | None) -> list[LetterRec]:
        rows = sorted((r for r in self.t.letters.values() if r.pdf is None), key=by_id)
        return rows if limit is None else rows[:limit]

    def _letter_of(self, task_id: int) -> LetterRec | None:
        return next((r for r in self.t.letters.values() if r.task_id == task_id), None)
