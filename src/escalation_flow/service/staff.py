"""What staff do: complete a task, record an event, override a stage, or a whole actions file.

Each is one stimulus to the engine for one case, decided on the facts at the end of the previous
school day (as a school day's timers and actions are) and written in one transaction. A refusal
(unknown task or event, bad outcome, no staff id) is raised before anything is written.
A retried action is recorded once: a completion the task already has, or an action the history
already holds at the same instant by the same person, is reported as already recorded.
An audit-log entry handed in (``AuditNote``: the pages say who acted from where) is written in
the transaction that records the action, so the log never names an action that did not land.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from escalation_flow.actors import Actors, unknown_message
from escalation_flow.core import evaluation
from escalation_flow.core.decisions import Decision, Stimulus, TaskCompleted
from escalation_flow.core.definition import TaskKind
from escalation_flow.core.engine import Moment
from escalation_flow.core.school_day import Action, DayEnv
from escalation_flow.core.statutory import STATUTORY_TASKS
from escalation_flow.errors import ActionError, ConflictError, InputError, NotFoundError, Problem
from escalation_flow.ports import (
    LETTER_APPROVED,
    TASK_DONE,
    TASK_OPEN,
    AuditNote,
    CaseChange,
    CaseTransaction,
    Record,
)
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.events import log_written
from escalation_flow.service.family_evenings import family_if_read
from escalation_flow.service.letter_preparation import prepare_letters
from escalation_flow.service.queries import Queries
from escalation_flow.service.register import RegisterAsKnown
from escalation_flow.service.versions import version_of
from escalation_flow.service.views import TaskView
from escalation_flow.staff_ids import staff_id

__all__ = ["Acted", "ActionsReport", "StaffActions", "staff_id"]

Check = Callable[[CaseTransaction, Sequence[Decision]], None]


@dataclass(frozen=True)
class Acted:
    decisions: tuple[Decision, ...]
    case_id: int | None
    already_recorded: bool = False


@dataclass(frozen=True)
class ActionsReport:
    """What an actions file did: applied, already recorded (retries), refused (with lines)."""

    applied: int
    already_recorded: int
    problems: tuple[Problem, ...] = field(default=())


class StaffActions:
    """Staff actions on cases and tasks; reads back what it wrote through ``Queries``."""

    def __init__(self, ctx: ServiceContext, queries: Queries, actors: Actors | None = None) -> None:
        self.ctx = ctx
        self.queries = queries
        #: who may be named as acting (staff of the staff table, or a system actor)
        self.actors = actors or Actors()

    # -- one action ----------------------------------------------------------------------------

    def act(
        self,
        school: str,
        pupil: str,
        stimulus: Stimulus,
        at: datetime,
        *,
        check: Check | None = None,
        dedupe: bool = False,
        register: RegisterAsKnown | None = None,
        audit: AuditNote | None = None,
    ) -> Acted:
        """One staff stimulus for one pupil's case, decided and written (or refused, unwritten)."""
        ctx = self.ctx
        if at.tzinfo is None:
            raise ActionError(f"the time of an action must carry its UTC offset: {at.isoformat()}")
        setup = ctx.setup(school)
        school = setup.school
        on = setup.action_day(at)
        if register is None:
            register = RegisterAsKnown.load(ctx.store, setup, ctx.now(), on)
        if pupil not in register.pupils:
            raise NotFoundError(
                f"pupil {pupil!r} has no marks and no roster entry at school {school}"
            )
        p = register.grid.pupil_index(pupil)
        now = ctx.now()
        with ctx.store.begin() as tx:
            sid = tx.school_id(school)
            stored = tx.load_case(sid, school, pupil)
            if dedupe and stored.id is not None and _recorded_before(tx, stored.id, stimulus, at):
                return Acted((), stored.id, already_recorded=True)
            # the case is decided under the flow version it runs under (see service.versions)
            setup = ctx.setup_at(school, version_of(stored.case, setup.flow.version), tx)
            book = setup.book(register.pupils)
            book.load(p, stored.case)
            facts = register.morning_facts(on, setup.flow)
            family = family_if_read(ctx, tx, setup, register.pupils, on, now)
            day = DayEnv(book, facts, register.counts, family)
            moment = Moment(setup.calendar.school_days[on], at)
            decisions, after = evaluation.evaluate(setup.ctx, stored.case, day, p, stimulus, moment)
            if not decisions:
                return Acted((), stored.id)
            if check is not None:
                check(tx, decisions)
            change = CaseChange(stored, decisions, after, stimulus.by or "unknown")
            ctx.keep_flow_version(tx, setup.flow, now)
            writer = tx.history_writer(
                school_id=sid,
                school=school,
                flow=setup.flow.id,
                flow_version=setup.flow.version,
                now=now,
                worker=ctx.worker,
            )
            written = writer.write([change])
            letters = prepare_letters(tx, setup, register, facts, written.tasks, now)
            if audit is not None:
                tx.audit(audit, now, school=school, pupil=pupil)
        log_written(ctx.log, school, [change], written, letters)
        return Acted(tuple(decisions), written.case_ids.get(pupil))

    def record_event(
        self,
        school: str,
        pupil: str,
        event: str,
        by: str,
        outcome: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> list[Decision]:
        """A manual event of the pupil's flow (``safeguarding_concern``, ...), or a task by
        name."""
        by = self.actors.check(by)
        stimulus = Stimulus("action", event, outcome, by, note)
        return list(self.act(school, pupil, stimulus, at or self.ctx.now()).decisions)

    def override(
        self, school: str, pupil: str, stage: int, reason: str, by: str
    ) -> list[Decision]:
        """A professional judgement: put the case in ``stage`` (0 closes it), with the reason."""
        by = self.actors.check(by)
        if not reason.strip():
            raise ActionError("an override needs a reason")
        flow = self.ctx.setup_at(school, self._open_case_version(school, pupil)).flow
        stages = sorted(s.number for s in flow.definition.stages if s.default_initial)
        if stage != 0 and stage not in stages:
            raise ActionError(
                f"stage {stage} is not a stage of flow {flow.id} a case can be in "
                f"(choose {', '.join(map(str, stages))}, or 0 to close the case)"
            )
        stimulus = Stimulus("override", by=by, note=reason.strip(), extra={"stage": stage})
        if stage == 0 and not self._open_case_version(school, pupil):
            raise ActionError(f"pupil {pupil} has no open case at school {school} to close")
        return list(self.act(school, pupil, stimulus, self.ctx.now()).decisions)

    def _open_case_version(self, school: str, pupil: str) -> str:
        """The flow version the pupil's open case runs under ("": no open case)."""
        try:
            view = self.queries.case(school, pupil)
        except NotFoundError:  # never had a case
            return ""
        return view.flow_version if view.status == "open" else ""

    # -- tasks ---------------------------------------------------------------------------------

    def complete_task(
        self,
        task_id: int,
        outcome: str | None,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
        *,
        audit: AuditNote | None = None,
    ) -> TaskView:
        """``ConflictError`` if someone else completed it; ``ActionError`` for a bad outcome; the
        same completion again is reported ``already_recorded`` (and no ``audit`` entry is
        written for it)."""
        by = self.actors.check(by)
        at = at or self.ctx.now()
        with self.ctx.store.read() as tx:
            row = tx.task_row(task_id)
            school = tx.school_key(row.school_id)
        if row.status != TASK_OPEN:
            return self._completed_before(row, by, outcome)
        if row.case_id is None:
            self._complete_universal(row, school, outcome, by, note, at, audit)
            return self.queries.task(task_id)

        def check(tx: CaseTransaction, decisions: Sequence[Decision]) -> None:
            done = next((d for d in decisions if isinstance(d, TaskCompleted)), None)
            if done is None or done.task_key != row.key:
                older = tx.task_id_by_key(row.case_id, done.task_key if done else None)
                raise ActionError(
                    f"task {task_id} ({row.task}) cannot be completed before the older open "
                    f"{row.task} of the same case (task {older}): complete that one first"
                )
            # every outcome of a letter task records the letter as gone to the family (sent,
            # given, given at a meeting, sent home, a contract agreed or declined): approval first
            if row.kind == TaskKind.LETTER.value and row.approval:
                letter = tx.letter_of_task(task_id)
                if letter is not None and letter.status != LETTER_APPROVED:
                    raise ActionError(
                        f"task {task_id}: letter {letter.id} has not been approved (it is "
                        f"{letter.status}); a named person approves it first: "
                        f"escalation-flow letters approve {letter.id} --by STAFF"
                    )

        stimulus = Stimulus("action", row.task, outcome, by, note)
        try:
            self.act(school, row.pupil, stimulus, at, check=check, audit=audit)
        except ConflictError:
            with self.ctx.store.read() as tx:
                again = tx.task_row(task_id)
            if again.status != TASK_OPEN:
                return self._completed_before(again, by, outcome)
            raise
        return self.queries.task(task_id)

    def _completed_before(self, row: Record, by: str, outcome: str | None) -> TaskView:
        if row.status == TASK_DONE:
            if row.completed_by == by and outcome in (None, row.outcome):
                return replace(self.queries.task(row.id), already_recorded=True)
            when = (
                row.completed_at.strftime("%Y-%m-%d %H:%M UTC") if row.completed_at else "earlier"
            )
            raise ConflictError(
                f"task {row.id} ({row.task}) was already completed by {row.completed_by} at "
                f"{when} (outcome {row.outcome}); nothing was changed"
            )
        raise ConflictError(
            f"task {row.id} ({row.task}) is no longer open: it was superseded"
            + (f" ({row.superseded_why})" if row.superseded_why else "")
            + "; nothing was changed"
        )

    def _complete_universal(
        self,
        row: Record,
        school: str,
        outcome: str | None,
        by: str,
        note: str | None,
        at: datetime,
        audit: AuditNote | None,
    ) -> None:
        """A task without a case (the first-day call): no history, the row records who did
        it."""
        flow = self.ctx.setup(school).flow
        spec = next((u.task for u in flow.definition.universal if u.task.id == row.task), None)
        statutory = STATUTORY_TASKS.get(row.task)
        outcomes = spec.outcomes if spec else statutory.outcomes if statutory else ("done",)
        if outcome is None:
            if len(outcomes) > 1:
                raise ActionError(f"{row.task}: say which outcome ({', '.join(outcomes)})")
            outcome = outcomes[0]
        if outcome not in outcomes:
            raise ActionError(
                f"{row.task}: outcome {outcome!r} is not one of {', '.join(outcomes)}"
            )
        with self.ctx.store.begin() as tx:
            changed = tx.complete_open_task(row.id, at, by, outcome, note)
            if changed and audit is not None:
                tx.audit(audit, self.ctx.now(), school=school, pupil=row.pupil)
        if not changed:
            with self.ctx.store.read() as tx:
                self._completed_before(tx.task_row(row.id), by, outcome)
            return
        self.ctx.log.info(
            "task.completed", school=school, task_id=row.id, pupil=row.pupil, outcome=outcome,
            by=by,
        )  # fmt: skip

    # -- actions files -------------------------------------------------------------------------

    def apply_actions(self, path: Path, *, skip_invalid: bool = False) -> ActionsReport:
        """Every action of a contract actions CSV, in time order, each in its own transaction;
        retried rows count once. A row naming someone who is not a member of staff refuses the
        whole file before anything is written (``InputError``), unless ``skip_invalid`` leaves
        those rows out (reported in ``problems``)."""
        from escalation_flow.adapters.action_files import read_actions

        ctx = self.ctx
        trust = ctx.trust
        by_school = read_actions(path, set(trust.schools) | set(trust.aliases))
        strangers = self._strangers(path, by_school)
        registers: dict[str, RegisterAsKnown] = {}
        for key, actions in sorted(by_school.items()):
            setup = ctx.setup(key)
            through = max(setup.action_day(a.at) for a in actions)
            registers[key] = RegisterAsKnown.load(ctx.store, setup, ctx.now(), through)
        unfit = {**self._unfit(path, by_school, registers), **strangers}
        if unfit and not skip_invalid:
            raise InputError(
                f"{path}: {len(unfit)} action(s) cannot be applied; nothing was applied (a "
                "stranger is added with `escalation-flow users add`; --skip-invalid applies the "
                "other rows)",
                sorted(unfit.values()),
            )
        applied = repeated = 0
        problems: list[Problem] = sorted(unfit.values())
        for key, actions in sorted(by_school.items()):
            actions = [a for a in actions if a.source not in unfit]
            if not actions:
                continue
            setup = ctx.setup(key)
            register = registers[key]
            for action in sorted(actions, key=lambda a: a.at):
                stimulus = Stimulus(
                    "action", action.action, action.outcome, action.by, action.note
                )
                try:
                    done = self.act(
                        setup.school,
                        action.pupil,
                        stimulus,
                        action.at,
                        dedupe=True,
                        register=register,
                    )
                except (ActionError, NotFoundError, ConflictError) as exc:
                    problems.append(_problem(path, action.source, action.pupil, exc))
                    continue
                if done.already_recorded:
                    repeated += 1
                else:
                    applied += 1
        return ActionsReport(applied, repeated, tuple(problems))

    def _unfit(
        self,
        path: Path,
        by_school: dict[str, list[Action]],
        registers: dict[str, RegisterAsKnown],
    ) -> dict[str | None, Problem]:
        """Rows that cannot stand whoever made them: a pupil the school's register does not
        know, or a time still to come (an action is recorded when it was taken)."""
        now = self.ctx.now()
        out: dict[str | None, Problem] = {}
        for key, actions in by_school.items():
            pupils = set(registers[key].pupils)
            for action in actions:
                where = _line_of(path, action.source)
                if action.pupil not in pupils:
                    message = f"{action.pupil!r} has no marks and no roster entry at {key}"
                    out[action.source] = Problem(str(path), where, "pupil", message)
                elif action.at > now:
                    message = f"{action.at.isoformat()} is after now ({now.isoformat()})"
                    out[action.source] = Problem(str(path), where, "at", message)
        return out

    def _strangers(
        self, path: Path, by_school: dict[str, list[Action]]
    ) -> dict[str | None, Problem]:
        """The rows whose ``by`` is malformed or not a member of staff, by source line."""
        rows = [a for actions in by_school.values() for a in actions]
        out: dict[str | None, Problem] = {}
        named: list[Action] = []
        for action in rows:
            try:
                staff_id(action.by)
                named.append(action)
            except ActionError as exc:
                out[action.source] = _by_problem(path, action.source, str(exc))
        unknown = self.actors.unknown(a.by for a in named)
        for action in named:
            if action.by in unknown:
                message = unknown_message(action.by)
                out[action.source] = _by_problem(path, action.source, message)
        return out


def _recorded_before(tx: CaseTransaction, case_id: int, stimulus: Stimulus, at: datetime) -> bool:
    """The same action (name, outcome, person) is already in the history at that instant."""
    return tx.recorded_before(case_id, stimulus.name, stimulus.outcome, stimulus.by, at)


def _by_problem(path: Path, source: str | None, message: str) -> Problem:
    file, _, line = (source or f"{path}:0").rpartition(":")
    return Problem(file, int(line) if line.isdigit() else None, "by", message)


def _problem(path: Path, source: str | None, pupil: str, exc: Any) -> Problem:
    file, _, line = (source or f"{path}:0").rpartition(":")
    message = f"pupil {pupil}: {getattr(exc, 'summary', str(exc))}"
    return Problem(file, int(line) if line.isdigit() else None, "action", message)


def _line_of(path: Path, source: str | None) -> int | None:
    """The line an action came from (its ``source`` is ``file:line``)."""
    line = (source or "").rpartition(":")[2]
    return int(line) if line.isdigit() else None
