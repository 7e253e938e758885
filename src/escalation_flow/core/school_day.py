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
from escalation_flow.core.day_env import DayEnv
from escalation_flow.core.decisions import Stimulus, quick_init
from escalation_flow.core.definition import DAILY, TERM_END, SideAction
from escalation_flow.core.due_dates import due_date
from escalation_flow.core.evaluation import AMENDED, evening_kinds, evening_stimulus
from escalation_flow.core.facts import FactTable
from escalation_flow.core.guards import Guard
from escalation_flow.core.school_cases import (
    BoolArray,
    FloatArray,
    IntArray,
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
    term_end = is_term_end(cal, inputs.day)
    moved: set[int] = set()  # pupils whose cases this evening's stimuli have changed so far
    for kind in evening_kinds(amended=True, term_end=term_end):
        if kind == TERM_END:
            _universal(book, env, today, TERM_END)
        spare = _Idle(book, env, kind, _read_after(book, kind, term_end=term_end))
        chosen = _screen(book, env, kind, inputs.amended, spare)
        spare.pupils -= {p for p, screened in chosen if screened}  # escalating: evaluated
        # a side action reads a case's state and stage from the case itself, which for a case
        # changed this evening may not be what the day's figures (and so the screen) say
        spare.pupils -= moved
        for p, screened in chosen:
            if spare.spared(p):
                continue
            stimulus = evening_stimulus(kind, screened)
            decisions, after = evaluation.evaluate(ctx, book.case(p), env, p, stimulus, evening)
            if decisions:
                moved.add(p)
            book.record(p, decisions, after)
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
    book: SchoolCases,
    env: DayEnv,
    kind: str,
    amended: Sequence[int],
    idle: _Idle | None = None,
) -> list[tuple[int, int | None]]:
    """The pupils an evening stimulus can move (numpy over every pupil), in the order they are
    evaluated; for ``daily``, with the highest stage the screen found above theirs (0: none).
    ``idle`` is shown the listeners' masks (the pupils it may spare).
    Evaluating any other pupil decides nothing (``tests/core/test_one_road.py`` checks it)."""
    if kind == AMENDED:
        # a case nothing the marks decide led into its state (a task's outcome, an override:
        # ``entered_by`` None) has nothing to reconsider (``engine._reconsider`` returns first)
        return [
            (p, None)
            for p in amended
            if (case := book.cases.get(p)) is not None
            and case.is_open
            and case.entered_by is not None
            and (book.decides_for is None or book.decides_for[p])
        ]
    if kind == DAILY:
        escalating = _escalating(book, env)
        listening = _listening(book, env, DAILY, idle)
        return [(p, escalating.get(p, 0)) for p in sorted(escalating.keys() | listening)]
    return [(p, None) for p in sorted(_listening(book, env, kind, idle))]


def _listening(
    book: SchoolCases, env: DayEnv, trigger: str, idle: _Idle | None = None
) -> set[int]:
    """Pupils in a state that listens to ``trigger`` for whom one of its guards holds (numpy;
    each guard's mask is read at the pupils in that state). ``idle``, if given, is shown the
    masks."""
    out: set[int] = set()
    masks_of = _Masks(env)
    for name, guards in book.listeners(trigger).items():
        rows = np.flatnonzero(book.state_id == book.state_index[name])
        if not rows.size:
            continue
        masks = [masks_of.at(g, rows) for g in guards]
        hit = _any_of(masks, rows.size)
        if book.decides_for is not None:
            hit &= book.decides_for[rows]
        out.update(int(p) for p in rows[hit])
        if idle is not None:
            idle.screened(name, rows, hit, masks)
    return out


def _read_after(book: SchoolCases, kind: str, *, term_end: bool) -> frozenset[str] | None:
    """The day's names read after the evening's ``kind`` stimuli (None: any may be)."""
    if kind == TERM_END:
        return frozenset()  # the duties read a fresh day's figures
    if kind == DAILY and not term_end:
        flow = book.ctx.flow
        whens = [u.when for u in flow.definition.universal if u.trigger == DAILY and u.when]
        return frozenset(n for w in whens for n in flow.guard(w).names)
    return None


class _Idle:
    """The pupils of an evening stimulus that need not be evaluated: in their state only a side
    action's ``when`` holds for them, and none of its tasks' ``when`` does (so evaluating them
    decides nothing), and skipping them moves no figure's reading that shows.

    The day's figures (``DayEnv``) are worked out over every pupil when first read, and kept;
    a case that moves later that evening keeps the figure as first read. An evaluation skipped
    might have been the first to read a name, which is then worked out later: for a pupil not
    yet evaluated that stimulus it is the same (its case has not moved since), so only what is
    read after the stimulus's pupils (``_read_after``: the universal actions' guards, and
    everything on a term's last day) must already be worked out for a pupil to be skipped.

    The tasks' guards are worked out for the screen, on the day's figures if nothing reads
    them after the stimulus, else apart, on a copy of them, for the same reason.
    Only side actions whose tasks' guards read nothing the case supplies itself (its state,
    stage and ``<id>_recorded`` counts, read from the case as it is: ``state_moves.CaseNow``)
    are looked through; another keeps its pupils evaluated, as before. A pupil whose case an
    earlier stimulus changed this evening is evaluated too: a side action's ``when`` reads the
    case's state and stage from the case, the screen from the day's figures."""

    def __init__(
        self, book: SchoolCases, env: DayEnv, trigger: str, later: frozenset[str] | None
    ) -> None:
        self.book, self.env, self.trigger = book, env, trigger
        self.later = later
        self.pupils: set[int] = set()
        flow = book.ctx.flow
        self.sides = [s for s in flow.definition.side if s.trigger == trigger]
        self._state_of: dict[int, str] = {}
        self._reads: dict[str, frozenset[str]] = {}
        self._ready: set[str] = set()
        self._apart: DayEnv | None = None

    def screened(self, state: str, rows: IntArray, hit: BoolArray, masks: list[BoolArray]) -> None:
        """The screen's masks for the pupils (``rows``) in ``state``: the listeners' guards in
        ``SchoolCases.listeners`` order, the side actions' ``when`` last."""
        if not _SPARE_IDLE or not self.sides or not hit.any():
            return
        plain = masks[: len(masks) - len(self.sides)]
        acting = _any_of(plain, rows.size)
        for side, when in zip(self.sides, masks[len(plain) :], strict=True):
            maybe = hit & ~acting & when  # the pupils only this side action may act for
            if maybe.any():
                acting |= maybe & self._tasks_may_hold(side, rows, maybe)
        quiet = rows[hit & ~acting]
        self.pupils.update(int(p) for p in quiet)
        self._state_of.update((int(p), state) for p in quiet)

    def _tasks_may_hold(self, side: SideAction, rows: IntArray, maybe: BoolArray) -> BoolArray:
        """Over ``rows``, whether a task of ``side`` may be created (asked, for the pupils of
        ``maybe`` only, one by one, as the evaluation would ask: an ``and`` stops at its first
        false part, so a figure the evaluation would not read is not worked out either)."""
        flow = self.book.ctx.flow
        guards = [flow.guard(t.when) if t.when else None for t in side.tasks]
        if any(g is None or not _read_from_the_day(g, self.book) for g in guards):
            return np.ones(rows.size, dtype=bool)
        names = {n for g in guards if g is not None for n in g.names}
        # nothing reads these after the stimulus: worked out now or later is the same
        quiet_after = self.later is not None and not names & self.later
        day = self.env if quiet_after else self._scratch()
        out = np.zeros(rows.size, dtype=bool)
        for i in np.flatnonzero(maybe):
            p = int(rows[i])
            pupil = day.pupil(p, self.book.case(p))
            out[i] = any(g.holds(pupil) for g in guards if g is not None)
        return out

    def _scratch(self) -> DayEnv:
        if self._apart is None:
            self._apart = self.env.scratch()
        return self._apart

    def spared(self, p: int) -> bool:
        """Whether evaluating ``p`` now would decide nothing and compute nothing new."""
        if p not in self.pupils:
            return False
        state = self._state_of[p]
        if state not in self._ready:
            names = self._names(state)
            if self.later is not None:
                names &= self.later  # the others: worked out a little later changes nothing
            if not names <= set(self.env):
                return False
            self._ready.add(state)  # figures once worked out stay: ready for the evening
        return True

    def _names(self, state: str) -> frozenset[str]:
        """Every name the day's figures give that evaluating a pupil in ``state`` can read."""
        if state not in self._reads:
            flow = self.book.ctx.flow
            guards = [g for g in self.book.listeners(self.trigger)[state] if g is not None]
            guards += [flow.guard(t.when) for s in self.sides for t in s.tasks if t.when]
            names = {n for g in guards for n in g.names if not n.endswith("_recorded")}
            self._reads[state] = frozenset(names)
        return self._reads[state]


class _Masks:
    """The listeners' masks of one screen, each guard's worked out once over every pupil and
    read at each state's pupils. The states of a stage share its transitions and the side
    actions' ``when`` (the family-liaison plan: 59 guards over 18 states, 5 of them distinct),
    and evaluating over every pupil reads the same figures as over some (the day works each
    out over every pupil when first read), element by element the same operations, so the
    same masks at those pupils.
    Kept for one screen only: a ``<id>_recorded`` count is the book's own array, which the
    evaluations after the screen move."""

    def __init__(self, env: DayEnv) -> None:
        self.env = env
        self._full: dict[int, BoolArray] = {}
        self._guards: list[Guard] = []  # keeps each id to its guard while remembered

    def at(self, guard: Guard | None, rows: IntArray) -> BoolArray:
        """``guard``'s mask at ``rows`` (None: always; a guard of parameters alone gives one
        value for all)."""
        if guard is None:
            return np.ones(rows.size, dtype=bool)
        full = self._full.get(id(guard))
        if full is None:
            full = self._full[id(guard)] = guard.mask(self.env)
            self._guards.append(guard)
        if full.ndim == 0:
            return np.broadcast_to(full, (rows.size,))
        return full[rows]


def _any_of(masks: list[BoolArray], size: int) -> BoolArray:
    out = np.zeros(size, dtype=bool)
    for mask in masks:
        out |= mask
    return out


#: Whether ``_Idle`` spares pupils (a test turns it off to compare with every pupil evaluated).
_SPARE_IDLE = True


def _read_from_the_day(guard: Guard, book: SchoolCases) -> bool:
    """Whether everything ``guard`` reads comes from the day's figures alone (no state flag,
    ``stage`` or ``<id>_recorded``, which a side action reads from the case)."""
    return not any(
        n == "stage" or n in book.state_flags or n.endswith("_recorded") for n in guard.names
    )


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
