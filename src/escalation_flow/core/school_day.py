"""One school's cases through one school day: timers, staff actions, then the day's evaluation.

Pure (no I/O): the daemon, the backtest and the tests all drive a ``SchoolCases`` the same way,
``run_day`` after ``run_day``, handing in the day's facts and actions.

Within a school day, in this order:

1. review timers due that day (or overdue) fire at their time, in due order, on the facts as they
   stood at the end of the previous school day;
2. staff actions of that day are applied in the order they were taken (with
   ``auto_complete``, every task due by that day is done with its default outcome);
3. after the registers close, every pupil is screened at once (numpy) against each stage's entry
   criteria; only pupils who escalate, or whose state listens to ``daily``, are evaluated one by
   one;
4. on the last day of a term, ``term_end`` universal actions and transitions run.

Universal actions (the first-day absence call, termly awards) make tasks without a case; they are
counted in ``SchoolCases.universal_tasks``, with the statutory tasks no flow can leave out
(``core.statutory``: telling a child's social worker of the first day of unexplained absence).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from escalation_flow.core import evaluation
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.context import Moment
from escalation_flow.core.day_env import DayEnv, Rows
from escalation_flow.core.decisions import Stimulus, quick_init
from escalation_flow.core.definition import DAILY, TERM_END
from escalation_flow.core.due_dates import due_date
from escalation_flow.core.evaluation import AMENDED, evening_kinds, evening_stimulus
from escalation_flow.core.facts import FactTable
from escalation_flow.core.school_cases import (
    BoolArray,
    FloatArray,
    SchoolCases,
    SchoolDuty,
    UniversalTask,
)
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.core.statutory import social_worker_notifications
from escalation_flow.errors import ActionError, Problem

# The book, its arrays and the guards' environment have modules of their own; the service,
# the store's writer and the action files still import them from here.
__all__ = [
    "Action",
    "BoolArray",
    "DayEnv",
    "DayInputs",
    "SchoolCases",
    "SchoolDuty",
    "UniversalTask",
    "is_term_end",
    "run_day",
]


@quick_init
@dataclass(frozen=True)
class Action:
    """Something a member of staff did, as read from the actions file or a command."""

    at: datetime  # timezone-aware
    pupil: str
    action: str
    by: str
    outcome: str | None = None
    note: str | None = None
    source: str | None = None  # "actions.csv:12", for error messages


@dataclass(frozen=True)
class DayInputs:
    """What one school day brings: today's facts and counts, yesterday's facts, staff actions."""

    day: int
    facts: FactTable
    counts: CumulativeCounts
    previous: FactTable | None = None
    actions: Sequence[Action] = ()
    auto_complete: bool = False
    #: pupils (indices) whose marks for earlier days changed since the last school day
    amended: Sequence[int] = ()
    #: the family facts (``core.family_facts``) from the previous evening's snapshot; None:
    #: unknown, and the statutory social-worker rule makes nothing
    family: Mapping[str, FloatArray] | None = None
    #: the family facts of the school day before (``has_social_worker`` then: the statutory
    #: task comes on the first day of a run known with a social worker)
    family_before: Mapping[str, FloatArray] | None = None


def run_day(book: SchoolCases, inputs: DayInputs) -> None:
    """Advance every case of ``book`` through school day ``inputs.day``."""
    ctx = book.ctx
    today = ctx.calendar.school_days[inputs.day]
    morning = DayEnv(book, inputs.previous or inputs.facts, inputs.counts, inputs.family)
    for p, timer_key, fire_at in _due_timers(book, today):
        stimulus, moment = Stimulus("timer", timer_key), Moment(today, fire_at)
        book.record(p, *evaluation.evaluate(ctx, book.case(p), morning, p, stimulus, moment))
    for p, action in _actions_of_day(book, inputs, today):
        stimulus = Stimulus("action", action.action, action.outcome, action.by, action.note)
        try:
            decisions, after = evaluation.evaluate(
                ctx, book.case(p), morning, p, stimulus, Moment(today, action.at)
            )
        except ActionError as exc:
            raise _located(exc, action) from exc
        book.record(p, decisions, after)
    _evening(book, inputs, today)


def _located(exc: ActionError, action: Action) -> ActionError:
    """The refusal, naming the file and line the action came from."""
    file, _, line = (action.source or "").rpartition(":")
    message = f"pupil {action.pupil}: {exc.summary}"
    if not file or not line.isdigit():
        return ActionError(message)
    return ActionError("an action cannot be applied", [Problem(file, int(line), "action", message)])


def _evening(book: SchoolCases, inputs: DayInputs, today: date) -> None:
    """The evening's stimuli (``evaluation.EVENING``), each for every pupil the screen picks,
    before the next: a stimulus's screen reads the book as the one before left it."""
    ctx, cal = book.ctx, book.ctx.calendar
    at = datetime.combine(today, book.registers_close, tzinfo=ZoneInfo(cal.timezone))
    evening = Moment(today, at.astimezone(UTC))
    env = DayEnv(book, inputs.facts, inputs.counts, inputs.family)
    for kind in evening_kinds(amended=True, term_end=is_term_end(cal, inputs.day)):
        if kind == TERM_END:
            _universal(book, env, today, TERM_END)
        for p, screened in _screen(book, env, kind, inputs.amended):
            stimulus = evening_stimulus(kind, screened)
            book.record(p, *evaluation.evaluate(ctx, book.case(p), env, p, stimulus, evening))
        if kind == DAILY:
            _universal(book, env, today, DAILY)
    _statutory(book, inputs)
    _duties(book, DayEnv(book, inputs.facts, inputs.counts, inputs.family), inputs.day, today)


def _statutory(book: SchoolCases, inputs: DayInputs) -> None:
    """The duties the law puts on every school, whatever its flow (``core.statutory``)."""
    if book.makes_universal_tasks and inputs.family is not None:
        book.universal_tasks += social_worker_notifications(
            book, inputs.family, inputs.family_before, inputs.counts, inputs.day
        )


def _duties(book: SchoolCases, env: DayEnv, day: int, today: date) -> None:
    """The school-level duties due today (daily; weekly on the week's first school day), each
    one task for its role listing the pupils it covers, as the evening left their cases."""
    if not book.makes_universal_tasks:
        return
    cal = book.ctx.calendar
    first_of_week = day == 0 or (
        cal.school_days[day - 1].isocalendar()[:2] != today.isocalendar()[:2]
    )
    for duty in book.ctx.flow.definition.duties:
        if duty.every == "weekly" and not first_of_week:
            continue
        covered = np.flatnonzero(book.ctx.flow.guard(duty.covers).mask(env))
        if not len(covered):
            continue
        due = due_date(cal, today, duty.due, for_timer=False)
        pupils = tuple(sorted(book.pupils[int(p)] for p in covered))
        book.duties.append(
            SchoolDuty(today, duty.id, duty.role.value, duty.kind.value, due, pupils)
        )


def _screen(
    book: SchoolCases, env: DayEnv, kind: str, amended: Sequence[int]
) -> list[tuple[int, int | None]]:
    """The pupils an evening stimulus can move (numpy over every pupil), in the order they are
    evaluated; for ``daily``, with the highest stage the screen found above theirs (0: none).
    Evaluating any other pupil decides nothing (``tests/core/test_one_road.py`` checks it)."""
    if kind == AMENDED:
        return [
            (p, None)
            for p in amended
            if book.case(p).is_open and (book.decides_for is None or book.decides_for[p])
        ]
    if kind == DAILY:
        escalating = _escalating(book, env)
        listening = _listening(book, env, DAILY)
        return [(p, escalating.get(p, 0)) for p in sorted(escalating.keys() | listening)]
    return [(p, None) for p in sorted(_listening(book, env, kind))]


def _listening(book: SchoolCases, env: DayEnv, trigger: str) -> set[int]:
    """Pupils in a state that listens to ``trigger`` for whom one of its guards holds (numpy,
    over the pupils in that state only: a guard's mask is worked out pupil by pupil)."""
    out: set[int] = set()
    for name, guards in book.listeners(trigger).items():
        rows = np.flatnonzero(book.state_id == book.state_index[name])
        if not rows.size:
            continue
        some = Rows(env, rows)
        hit = np.zeros(rows.size, dtype=bool)
        for guard in guards:
            hit |= True if guard is None else guard.mask(some)
        if book.decides_for is not None:
            hit &= book.decides_for[rows]
        out.update(int(p) for p in rows[hit])
    return out


def _escalating(book: SchoolCases, env: DayEnv) -> dict[int, int]:
    """Pupils for whom some stage above their current one has its entry criteria met, with the
    highest such stage."""
    flow = book.ctx.flow
    stages = flow.escalating_stages
    if not stages:
        return {}
    target = np.zeros(len(book.pupils), np.int64)
    for stage in reversed(stages):  # lowest first, so higher stages overwrite
        mask = flow.entry[stage.number].mask(env)
        target = np.where(mask, stage.number, target)
    rising = target > book.stage
    if book.decides_for is not None:
        rising &= book.decides_for
    return {int(p): int(target[p]) for p in np.flatnonzero(rising)}


def _universal(book: SchoolCases, env: DayEnv, today: date, trigger: str) -> None:
    if not book.makes_universal_tasks:
        return
    for action in book.ctx.flow.definition.universal:
        if action.trigger != trigger:
            continue
        if action.when is None:
            pupils = np.arange(len(book.pupils))
        else:
            pupils = np.flatnonzero(book.ctx.flow.guard(action.when).mask(env))
        due = due_date(book.ctx.calendar, today, action.task.due, for_timer=False)
        for p in pupils:
            book.universal_tasks.append(
                UniversalTask(
                    today, book.pupils[int(p)], action.task.id, action.task.role.value, due
                )
            )


def _due_timers(book: SchoolCases, today: date) -> list[tuple[int, str, datetime]]:
    due = []
    for p in np.flatnonzero(book.timer_due <= today.toordinal()):
        case = book.cases[int(p)]
        due += [(t.fire_at, case.pupil, int(p), t.key) for t in case.timers if t.due <= today]
    due.sort()
    return [(p, key, fire_at) for fire_at, _, p, key in due]


def _actions_of_day(
    book: SchoolCases, inputs: DayInputs, today: date
) -> Iterator[tuple[int, Action]]:
    zone = ZoneInfo(book.ctx.calendar.timezone)
    todo: list[tuple[datetime, str, int, Action]] = []
    for a in inputs.actions:
        p = book.pupil_index(a.pupil)
        if p is not None:
            todo.append((a.at, a.pupil, p, a))
    if inputs.auto_complete:
        done_at = datetime.combine(today, book.registers_close, tzinfo=zone) - timedelta(minutes=30)
        for p in (int(i) for i in np.flatnonzero(book.task_due <= today.toordinal())):
            case = book.cases[p]
            for task in case.tasks:
                if task.due <= today:
                    action = Action(done_at, case.pupil, task.task, "auto", task.outcomes[0])
                    todo.append((done_at, case.pupil, p, action))
    todo.sort(key=lambda item: (item[0], item[1]))
    for _, _, p, action in todo:
        case = book.case(p)
        # an auto-completed task may already have gone with an earlier action of the day
        if action.by == "auto" and case.open_task_named(action.action) is None:
            continue
        yield p, action


def is_term_end(cal: SchoolCalendar, day: int) -> bool:
    """Whether school day ``day`` is the last of a term (``term_end`` comes that evening)."""
    return any(p.last == day for p in cal.terms_periods)
