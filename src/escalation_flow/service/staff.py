"""What staff do: complete a task, record an event, override a stage, or a whole actions file.

Each is one stimulus to the engine for one case, decided on the facts at the end of the previous
school day (as a school day's timers and actions are) and written in one transaction. A refusal
(unknown task or event, bad outcome, no staff id) is raised before anything is written.
A retried action is recorded once: a completion the task already has, or an action the history
already holds at the same instant by the same person, is reported as already recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from escalation_flow.adapters.store.case_models import LETTER_APPROVED, TASK_DONE, TASK_OPEN
from escalation_flow.adapters.store.case_writer import SENT, CaseChange, HistoryWriter
from escalation_flow.adapters.store.cases import (
    EVENTS,
    SCHOOLS,
    TASKS,
    letter_of_task,
    load_case,
    school_id,
    task_row,
)
from escalation_flow.core.decisions import Decision, Stimulus, TaskCompleted
from escalation_flow.core.definition import TaskKind
from escalation_flow.core.engine import Moment, step
from escalation_flow.core.school_day import DayEnv
from escalation_flow.errors import ActionError, ConflictError, NotFoundError, Problem
from escalation_flow.service.events import log_written
from escalation_flow.service.letters import prepare_letters
from escalation_flow.service.register import Register
from escalation_flow.service.versions import version_of

if TYPE_CHECKING:
    from escalation_flow.service.service import Service
    from escalation_flow.service.views import TaskView

Check = Callable[[Connection, Sequence[Decision]], None]


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


def staff_id(by: str | None) -> str:
    """Until the staff table exists, a staff id is any non-blank text of at most 100 characters."""
    text = (by or "").strip()
    if not text or len(text) > 100 or any(ch.isspace() for ch in text):
        raise ActionError(
            f"{by!r} is not a staff id (one word, e.g. s.jones, at most 100 characters)"
        )
    return text


def act(
    service: Service,
    school: str,
    pupil: str,
    stimulus: Stimulus,
    at: datetime,
    *,
    check: Check | None = None,
    dedupe: bool = False,
    register: Register | None = None,
) -> Acted:
    """One staff stimulus for one pupil's case, decided and written (or refused, unwritten)."""
    if at.tzinfo is None:
        raise ActionError(f"the time of an action must carry its UTC offset: {at.isoformat()}")
    setup = service.setup(school)
    school = setup.school
    on = setup.action_day(at)
    if register is None:
        register = Register.load(service.store, setup, service.now(), on)
    if pupil not in register.pupils:
        raise NotFoundError(f"pupil {pupil!r} has no marks and no roster entry at school {school}")
    p = register.grid.pupil_index(pupil)
    now = service.now()
    with service.store.engine.begin() as conn:
        sid = school_id(conn, school)
        stored = load_case(conn, sid, school, pupil)
        if dedupe and stored.id is not None and _recorded_before(conn, stored.id, stimulus, at):
            return Acted((), stored.id, already_recorded=True)
        # the case is decided under the flow version it runs under (see service.versions)
        setup = service.setup_at(school, version_of(stored.case, setup.flow.version), conn)
        book = setup.book(register.pupils)
        book.load(p, stored.case)
        facts = register.morning_facts(on, setup.flow)
        env = DayEnv(book, facts, register.counts).pupil(p, stored.case)
        moment = Moment(setup.calendar.school_days[on], at)
        decisions, after = step(setup.ctx, stored.case, env, moment, stimulus)
        if not decisions:
            return Acted((), stored.id)
        if check is not None:
            check(conn, decisions)
        change = CaseChange(stored, decisions, after, stimulus.by or "unknown")
        service.keep_flow_version(conn, setup.flow, now)
        writer = HistoryWriter(
            conn,
            school_id=sid,
            school=school,
            flow=setup.flow.id,
            flow_version=setup.flow.version,
            now=now,
            worker=service.worker,
        )
        written = writer.write([change])
        letters = prepare_letters(conn, setup, register, facts, written.tasks, now)
    log_written(service.log, school, [change], written, letters)
    return Acted(tuple(decisions), written.case_ids.get(pupil))


def _recorded_before(conn: Connection, case_id: int, stimulus: Stimulus, at: datetime) -> bool:
    """The same action (name, outcome, person) is already in the history at that instant."""
    e = EVENTS.c
    query = select(e.body).where(
        e.case_id == case_id, e.at == at, e.type.in_(("task_completed", "event_recorded"))
    )
    for body in conn.execute(query).scalars():
        event = json.loads(body)
        name = event.get("task") or event.get("event")
        same_outcome = stimulus.outcome is None or event.get("outcome") == stimulus.outcome
        if name == stimulus.name and event.get("by") == stimulus.by and same_outcome:
            return True
    return False


# -- tasks -----------------------------------------------------------------------------------


def complete_task(
    service: Service,
    task_id: int,
    outcome: str | None,
    by: str,
    note: str | None,
    at: datetime | None,
) -> TaskView:
    by = staff_id(by)
    at = at or service.now()
    with service.store.engine.connect() as conn:
        row = task_row(conn, task_id)
        school = conn.execute(
            select(SCHOOLS.c.key).where(SCHOOLS.c.id == row.school_id)
        ).scalar_one()
    if row.status != TASK_OPEN:
        return _completed_before(service, row, by, outcome)
    if row.case_id is None:
        _complete_universal(service, row, school, outcome, by, note, at)
        return service.task(task_id)

    def check(conn: Connection, decisions: Sequence[Decision]) -> None:
        done = next((d for d in decisions if isinstance(d, TaskCompleted)), None)
        if done is None or done.task_key != row.key:
            older = conn.execute(
                select(TASKS.c.id).where(
                    TASKS.c.case_id == row.case_id,
                    TASKS.c.key == (done.task_key if done else None),
                )
            ).scalar()
            raise ActionError(
                f"task {task_id} ({row.task}) cannot be completed before the older open "
                f"{row.task} of the same case (task {older}): complete that one first"
            )
        if row.kind == TaskKind.LETTER.value and row.approval and done.outcome == SENT:
            letter = letter_of_task(conn, task_id)
            if letter is not None and letter.status != LETTER_APPROVED:
                raise ActionError(
                    f"task {task_id}: letter {letter.id} has not been approved (it is "
                    f"{letter.status}); a named person approves it first: "
                    f"escalation-flow letters approve {letter.id} --by STAFF"
                )

    stimulus = Stimulus("action", row.task, outcome, by, note)
    try:
        act(service, school, row.pupil, stimulus, at, check=check)
    except ConflictError:
        with service.store.engine.connect() as conn:
            again = task_row(conn, task_id)
        if again.status != TASK_OPEN:
            return _completed_before(service, again, by, outcome)
        raise
    return service.task(task_id)


def _completed_before(service: Service, row: Any, by: str, outcome: str | None) -> TaskView:
    if row.status == TASK_DONE:
        if row.completed_by == by and outcome in (None, row.outcome):
            view = service.task(row.id)
            return _replace(view, already_recorded=True)
        when = row.completed_at.strftime("%Y-%m-%d %H:%M UTC") if row.completed_at else "earlier"
        raise ConflictError(
            f"task {row.id} ({row.task}) was already completed by {row.completed_by} at {when} "
            f"(outcome {row.outcome}); nothing was changed"
        )
    raise ConflictError(
        f"task {row.id} ({row.task}) is no longer open: it was superseded"
        + (f" ({row.superseded_why})" if row.superseded_why else "")
        + "; nothing was changed"
    )


def _complete_universal(
    service: Service,
    row: Any,
    school: str,
    outcome: str | None,
    by: str,
    note: str | None,
    at: datetime,
) -> None:
    """A task without a case (the first-day call): no history, the row records who did it."""
    flow = service.setup(school).flow
    spec = next((u.task for u in flow.definition.universal if u.task.id == row.task), None)
    outcomes = spec.outcomes if spec else ("done",)
    if outcome is None:
        if len(outcomes) > 1:
            raise ActionError(f"{row.task}: say which outcome ({', '.join(outcomes)})")
        outcome = outcomes[0]
    if outcome not in outcomes:
        raise ActionError(f"{row.task}: outcome {outcome!r} is not one of {', '.join(outcomes)}")
    t = TASKS.c
    with service.store.engine.begin() as conn:
        changed = conn.execute(
            update(TASKS)
            .where(t.id == row.id, t.status == TASK_OPEN)
            .values(status=TASK_DONE, completed_at=at, completed_by=by, outcome=outcome, note=note)
        ).rowcount
    if changed != 1:
        with service.store.engine.connect() as conn:
            _completed_before(service, task_row(conn, row.id), by, outcome)
        return
    service.log.info(
        "task.completed", school=school, task_id=row.id, pupil=row.pupil, outcome=outcome, by=by
    )


def _replace(view: TaskView, **changes: Any) -> TaskView:
    from dataclasses import replace

    return replace(view, **changes)


# -- actions files -----------------------------------------------------------------------------


def apply_actions(service: Service, path: Path) -> ActionsReport:
    """Every action of a contract actions CSV, in time order, each in its own transaction."""
    from escalation_flow.adapters.action_files import read_actions

    trust = service.trust
    by_school = read_actions(path, set(trust.schools) | set(trust.aliases))
    applied = repeated = 0
    problems: list[Problem] = []
    for key, actions in sorted(by_school.items()):
        setup = service.setup(key)
        through = max(setup.action_day(a.at) for a in actions)
        register = Register.load(service.store, setup, service.now(), through)
        for action in sorted(actions, key=lambda a: a.at):
            stimulus = Stimulus("action", action.action, action.outcome, action.by, action.note)
            try:
                staff_id(action.by)
                done = act(
                    service,
                    setup.school,
                    action.pupil,
                    stimulus,
                    action.at,
                    dedupe=True,
                    register=register,
                )
            except (ActionError, NotFoundError, ConflictError) as exc:
                file, _, line = (action.source or f"{path}:0").rpartition(":")
                message = f"pupil {action.pupil}: {getattr(exc, 'summary', str(exc))}"
                problems.append(
                    Problem(file, int(line) if line.isdigit() else None, "action", message)
                )
                continue
            if done.already_recorded:
                repeated += 1
            else:
                applied += 1
    return ActionsReport(applied, repeated, tuple(problems))
