"""Undo: the member of staff who recorded an action withdraws it, as a recorded correction.

The history's part of the rules is ``core.undo`` (the person, the 15 minutes, nothing followed);
what only the store knows is checked here: no letter the action touched has been approved or
sent. The correction (``action_undone``) is appended in one transaction with the tasks and timers
put back as the action found them; the case row's snapshot is the history folded
(``core.case.Folding``), which is what replay and ``audit verify`` fold too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from escalation_flow.actors import Actors
from escalation_flow.core import undo
from escalation_flow.core.case import Case, fold, undone
from escalation_flow.core.decisions import ActionUndone, TaskCompleted
from escalation_flow.core.definition import TaskKind
from escalation_flow.errors import ActionError, NotFoundError
from escalation_flow.ports import (
    LETTER_APPROVED,
    AuditNote,
    CaseChange,
    CaseTransaction,
    HistoryRow,
)
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.versions import version_of
from escalation_flow.stored import LETTER_SENT

__all__ = ["Undoing", "Undone"]


@dataclass(frozen=True)
class Undone:
    """What an undo recorded."""

    correction: ActionUndone
    case: Case  # the case after it
    what: str  # the action withdrawn, in words


class Undoing:
    """Offers and records undos of staff actions."""

    def __init__(self, ctx: ServiceContext, actors: Actors | None = None) -> None:
        self.ctx = ctx
        self.actors = actors or Actors()

    def offer(self, school: str, pupil: str, by: str) -> undo.UndoOffer:
        """May ``by`` undo the last action on the pupil's case now? If not, why not."""
        school = self.ctx.setup(school).school
        with self.ctx.store.read() as tx:
            found = self._history(tx, school, pupil)
            if found is None:
                return undo.UndoOffer(None, f"pupil {pupil} has no case; {undo.CORRECTION}")
            _, case_id, rows = found
            return self._offer(tx, case_id, rows, by)

    def undo_task(
        self, task_id: int, by: str, note: str | None = None, *, audit: AuditNote | None = None
    ) -> Undone:
        """Undo the completion of task ``task_id`` (it must be the case's last action)."""
        with self.ctx.store.read() as tx:
            row = tx.task_row(task_id)
            school = tx.school_key(row.school_id)
        if row.case_id is None:
            raise ActionError(
                f"task {task_id} ({row.task}) belongs to no case; {undo.CORRECTION}"
            )
        return self.undo_last(school, row.pupil, by, note, task_key=row.key, audit=audit)

    def undo_last(
        self,
        school: str,
        pupil: str,
        by: str,
        note: str | None = None,
        *,
        task_key: str | None = None,
        audit: AuditNote | None = None,
    ) -> Undone:
        """Undo the last action on the pupil's case (``task_key``: only if it completed that
        task). ``ActionError`` says why when it cannot be undone."""
        ctx = self.ctx
        by = self.actors.check(by)
        setup = ctx.setup(school)
        school = setup.school
        now = ctx.now()
        with ctx.store.begin() as tx:
            found = self._history(tx, school, pupil)
            if found is None:
                raise NotFoundError(f"pupil {pupil} has no case at school {school}")
            sid, case_id, rows = found
            offered = self._offer(tx, case_id, rows, by)
            action = offered.action
            if offered.refusal is not None or action is None:
                raise ActionError(offered.refusal or "nothing to undo")
            head = action.head
            if task_key is not None and (
                not isinstance(head, TaskCompleted) or head.task_key != task_key
            ):
                raise ActionError(
                    f"the last action on this case is {action.describe()}, not this task's "
                    f"completion; {undo.CORRECTION}"
                )
            stored = tx.load_case(sid, school, pupil)
            version = version_of(stored.case, setup.flow.version)
            flow = ctx.setup_at(school, version, tx).flow
            on = setup.calendar.school_days[setup.action_day(now)]
            correction = undo.undo_of(action, on, now, note)
            before = fold(school, pupil, (r.decision() for r in rows[: -len(action.records)]))
            after = undone(before, stored.case)
            change = CaseChange(stored, [correction], after, by, undone=action.decisions)
            writer = tx.history_writer(
                school_id=sid, school=school, flow=flow.id, flow_version=flow.version, now=now,
                worker=ctx.worker,
            )  # fmt: skip
            writer.write([change])
            if audit is not None:
                tx.audit(audit, now, school=school, pupil=pupil)
        ctx.log.info(
            "action.undone", school=school, pupil=pupil, action=correction.action,
            records=correction.undoes, by=by,
        )  # fmt: skip
        return Undone(correction, after, action.describe())

    # -- reading -----------------------------------------------------------------------------

    def _history(
        self, tx: CaseTransaction, school: str, pupil: str
    ) -> tuple[int, int, list[HistoryRow]] | None:
        sid = tx.school_id(school)
        row = tx.case_row(sid, pupil)
        if row is None:
            return None
        return sid, row.id, sorted(tx.history(row.id), key=lambda r: r.seq)

    def _offer(
        self, tx: CaseTransaction, case_id: int, rows: Sequence[HistoryRow], by: str
    ) -> undo.UndoOffer:
        entries = [undo.Entry(r.seq, r.decision(), r.actor, r.recorded_at) for r in rows]
        offered = undo.offer(entries, by, self.ctx.now())
        if offered.refusal is not None or offered.action is None:
            return offered
        letter = self._letter_moved(tx, case_id, offered.action)
        if letter is not None:
            return undo.UndoOffer(offered.action, f"{letter}; {undo.CORRECTION}")
        return offered

    def _letter_moved(
        self, tx: CaseTransaction, case_id: int, action: undo.LastAction
    ) -> str | None:
        """Why a letter stops the undo (None: none does): the action sent it, or a letter it
        made has been approved or sent since. (A letter it superseded comes back as it was.)"""
        head = action.head
        if isinstance(head, TaskCompleted) and _is_letter(tx, case_id, head.task_key):
            # every outcome of a letter task says the letter left the school: sent, given,
            # given at a meeting, sent home, a contract agreed or declined
            return f"{action.describe()}: the letter has gone to the family"
        for key in action.created_tasks():
            task_id = tx.task_id_by_key(case_id, key)
            letter = tx.letter_of_task(task_id) if task_id is not None else None
            if letter is not None and letter.status in (LETTER_APPROVED, LETTER_SENT):
                return f"letter {letter.id}, prepared after it, has been {letter.status}"
        return None


def _is_letter(tx: CaseTransaction, case_id: int, task_key: str) -> bool:
    task_id = tx.task_id_by_key(case_id, task_key)
    return task_id is not None and tx.task_row(task_id).kind == TaskKind.LETTER.value
