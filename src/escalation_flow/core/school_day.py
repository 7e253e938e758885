"""One school's cases through one school day: timers, staff actions, then the day's evaluation.

Pure (no I/O): the daemon, the backtest and the tests all drive a ``SchoolBook`` the same way,
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
counted in ``SchoolBook.universal_tasks``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import DEFAULT_REGISTERS_CLOSE, SchoolCalendar
from escalation_flow.core.case import Case, apply
from escalation_flow.core.decisions import Decision, Stimulus, quick_init
from escalation_flow.core.definition import DAILY, TERM_END, Flow
from escalation_flow.core.engine import Context, Moment, due_date, step
from escalation_flow.core.facts import DayWindows, FactTable
from escalation_flow.core.guards import Guard
from escalation_flow.core.session_counts import CumulativeCounts, Key
from escalation_flow.errors import ActionError, Problem

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_NEVER = np.iinfo(np.int64).max
IntArray = npt.NDArray[np.int64]
NAN = float("nan")


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


@quick_init
@dataclass(frozen=True)
class UniversalTask:
    on: date
    pupil: str
    task: str
    role: str
    due: date


@dataclass
class SchoolBook:
    """Every case of one school under one flow, kept between school days."""

    ctx: Context
    school: str
    pupils: tuple[str, ...]
    registers_close: time = DEFAULT_REGISTERS_CLOSE
    #: the pupils this book runs cases for (None: every pupil); the others' open cases run in
    #: the book of the flow version they were opened under, so this one must not open theirs
    runs: BoolArray | None = None
    #: whether the flow's universal actions (the first-day call) are made from this book: only
    #: the school's current flow makes them, for every pupil
    makes_universal: bool = True
    cases: dict[int, Case] = field(default_factory=dict)
    history: dict[int, list[Decision]] = field(default_factory=dict)
    universal_tasks: list[UniversalTask] = field(default_factory=list)
    stage: IntArray = field(init=False)
    stage_day: IntArray = field(init=False)
    state_day: IntArray = field(init=False)
    _windows: DayWindows | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        n = len(self.pupils)
        self.stage = np.zeros(n, np.int64)
        self.stage_day = np.full(n, -1, np.int64)
        self.state_day = np.full(n, -1, np.int64)
        self._index = {p: i for i, p in enumerate(self.pupils)}
        self.state_index = {name: i for i, name in enumerate(self.ctx.flow.states)}
        self.state_id = np.full(n, -1, np.int64)  # -1: no open case
        # the earliest due date (ordinal) of each pupil's pending timers and open tasks, so a
        # day finds what is due without walking every case
        self.timer_due = np.full(n, _NEVER, np.int64)
        self.task_due = np.full(n, _NEVER, np.int64)
        self._listeners = {t: _listeners(self.ctx.flow, t) for t in (DAILY, TERM_END)}
        # ``<id>_recorded`` counts the guards read, kept per pupil as cases change
        self.recorded: dict[str, FloatArray] = {
            name: np.zeros(n) for name in _recorded_names(self.ctx.flow)
        }
        self._recorded_ids = [(n.removesuffix("_recorded"), a) for n, a in self.recorded.items()]

    @property
    def windows(self) -> DayWindows:
        if self._windows is None:
            self._windows = DayWindows.of(self.ctx.calendar)
        return self._windows

    def listeners(self, trigger: str) -> dict[str, list[Guard | None]]:
        return self._listeners[trigger]

    def case(self, p: int) -> Case:
        return self.cases.get(p) or Case(school=self.school, pupil=self.pupils[p])

    def pupil_index(self, pupil: str) -> int | None:
        return self._index.get(pupil)

    def record(self, p: int, decisions: Sequence[Decision], case: Case | None = None) -> None:
        """Keep a pupil's new decisions; ``case`` is the case they leave (folded if not given)."""
        if not decisions:
            return
        if case is None:
            case = reduce(apply, decisions, self.case(p))
        self.history.setdefault(p, []).extend(decisions)
        self.load(p, case)

    def load(self, p: int, case: Case) -> None:
        """Hold ``case`` for pupil ``p`` (from the store, or after new decisions) and keep the
        per-pupil arrays the day's screening reads in step with it."""
        self.cases[p] = case
        if not case.is_open:
            self.stage[p] = 0
            self.state_id[p] = self.stage_day[p] = self.state_day[p] = -1
            self.timer_due[p] = self.task_due[p] = _NEVER
            for _, recorded in self._recorded_ids:
                recorded[p] = 0
            return
        cal = self.ctx.calendar
        self.stage[p] = case.stage
        self.state_id[p] = self.state_index[case.state]
        self.timer_due[p] = min([t.due for t in case.timers]).toordinal() if case.timers else _NEVER
        self.task_due[p] = min([t.due for t in case.tasks]).toordinal() if case.tasks else _NEVER
        if self._recorded_ids:
            counts = dict(case.event_counts)
            for event, recorded in self._recorded_ids:
                recorded[p] = counts.get(event, 0)
        stage_on, state_on = case.stage_entered_on, case.state_entered_on
        self.stage_day[p] = cal.index_on_or_before(stage_on) if stage_on else -1
        self.state_day[p] = cal.index_on_or_before(state_on) if state_on else -1


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


def run_day(book: SchoolBook, inputs: DayInputs) -> None:
    """Advance every case of ``book`` through school day ``inputs.day``."""
    cal = book.ctx.calendar
    today = cal.school_days[inputs.day]
    morning = inputs.previous or inputs.facts
    morning_env = DayEnv(book, morning, inputs.counts)
    for p, timer_key, fire_at in _due_timers(book, today):
        case = book.case(p)
        armed = next(t for t in case.timers if t.key == timer_key)
        env = morning_env.pupil(p, case, review_from=cal.index_on_or_before(armed.armed_on))
        stimulus = Stimulus("timer", timer_key)
        book.record(p, *step(book.ctx, case, env, Moment(today, fire_at), stimulus))
    for p, action in _actions_of_day(book, inputs, today):
        case = book.case(p)
        stimulus = Stimulus("action", action.action, action.outcome, action.by, action.note)
        moment = Moment(today, action.at)
        try:
            decisions, after = step(book.ctx, case, morning_env.pupil(p, case), moment, stimulus)
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


def _evening(book: SchoolBook, inputs: DayInputs, today: date) -> None:
    ctx, cal = book.ctx, book.ctx.calendar
    at = datetime.combine(today, book.registers_close, tzinfo=ZoneInfo(cal.timezone)).astimezone(
        UTC
    )
    env = DayEnv(book, inputs.facts, inputs.counts)
    # One moment and one stimulus of each kind serve every case of the evening (the engine
    # only reads them).
    evening = Moment(today, at)
    amended = Stimulus("amended")
    for p in inputs.amended:
        case = book.case(p)
        if case.is_open and (book.runs is None or book.runs[p]):
            book.record(p, *step(ctx, case, env.pupil(p, case), evening, amended))
    escalating = _escalating(book, env)
    daily: dict[int, Stimulus] = {}
    for p in sorted(escalating.keys() | _listening(book, env, DAILY)):
        case = book.case(p)
        screened = escalating.get(p, 0)  # the screen saw no stage above this pupil's: 0
        stimulus = daily.get(screened)
        if stimulus is None:
            stimulus = daily[screened] = Stimulus("daily", extra={"screened_stage": screened})
        book.record(p, *step(ctx, case, env.pupil(p, case), evening, stimulus))
    _universal(book, env, today, DAILY)
    if is_term_end(cal, inputs.day):
        _universal(book, env, today, TERM_END)
        term_end = Stimulus(TERM_END)
        for p in sorted(_listening(book, env, TERM_END)):
            case = book.case(p)
            book.record(p, *step(ctx, case, env.pupil(p, case), evening, term_end))


def _listening(book: SchoolBook, env: DayEnv, trigger: str) -> set[int]:
    """Pupils in a state that listens to ``trigger`` for whom one of its guards holds (numpy,
    over the pupils in that state only: a guard's mask is worked out pupil by pupil)."""
    out: set[int] = set()
    for name, guards in book.listeners(trigger).items():
        rows = np.flatnonzero(book.state_id == book.state_index[name])
        if not rows.size:
            continue
        some = _Rows(env, rows)
        hit = np.zeros(rows.size, dtype=bool)
        for guard in guards:
            hit |= True if guard is None else guard.mask(some)
        if book.runs is not None:
            hit &= book.runs[rows]
        out.update(int(p) for p in rows[hit])
    return out


def _escalating(book: SchoolBook, env: DayEnv) -> dict[int, int]:
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
    if book.runs is not None:
        rising &= book.runs
    return {int(p): int(target[p]) for p in np.flatnonzero(rising)}


def _universal(book: SchoolBook, env: DayEnv, today: date, trigger: str) -> None:
    if not book.makes_universal:
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


def _due_timers(book: SchoolBook, today: date) -> list[tuple[int, str, datetime]]:
    due = []
    for p in np.flatnonzero(book.timer_due <= today.toordinal()):
        case = book.cases[int(p)]
        due += [(t.fire_at, case.pupil, int(p), t.key) for t in case.timers if t.due <= today]
    due.sort()
    return [(p, key, fire_at) for fire_at, _, p, key in due]


def _actions_of_day(
    book: SchoolBook, inputs: DayInputs, today: date
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


def _recorded_names(flow: Flow) -> set[str]:
    return {n for g in flow.guards.values() for n in g.names if n.endswith("_recorded")}


def _listeners(flow: Flow, trigger: str) -> dict[str, list[Guard | None]]:
    """For each state that listens to ``trigger``: the guards of its transitions and recurring
    tasks for it (``None``: always)."""
    out: dict[str, list[Guard | None]] = {}
    for name in flow.states:
        whens = [t.when for t in flow.transitions_from(name) if t.trigger == trigger]
        whens += [r.when for r in flow.state(name).state.recurring if r.trigger == trigger]
        if whens:
            out[name] = [flow.guard(w) if w else None for w in whens]
    return out


# -- the environment guards read -------------------------------------------------------------------


class DayEnv(Mapping[str, Any]):
    """Every name a guard may read, as arrays over the school's pupils, built lazily."""

    def __init__(self, book: SchoolBook, facts: FactTable, counts: CumulativeCounts) -> None:
        self.book = book
        self.facts = facts
        self.counts = counts
        self.day = facts.day_index
        cal = book.ctx.calendar
        flow = book.ctx.flow
        self._values: dict[str, Any] = dict(facts.values)
        self._values.update(flow.parameter_values(cal.term_name_of(self.day).value))
        self._values["stage"] = book.stage.astype(np.float64)

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            self._values[name] = self._compute(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def pupil(self, p: int, case: Case, review_from: int | None = None) -> PupilEnv:
        return PupilEnv(self, p, case, review_from)

    def _compute(self, name: str) -> Any:
        book, d = self.book, self.day
        if name in book.recorded:
            return book.recorded[name]
        if name == "school_days_in_stage":
            return _since(book.stage_day, d)
        if name == "school_days_in_state":
            return _since(book.state_day, d)
        for prefix, days in (("stage", book.stage_day), ("state", book.state_day)):
            if name == f"attendance_pct_at_{prefix}_entry":
                return self.ytd_pct_at(days)
            if name == f"attendance_pct_since_{prefix}_entry":
                return self.pct_since(days)
        if name == "unauthorised_sessions_since_state_entry":
            return self._count_since(book.state_day, Key.UNAUTHORISED)
        if name == "late_sessions_since_state_entry":
            return self._count_since(book.state_day, Key.LATE_BEFORE_CLOSE, Key.LATE_AFTER_CLOSE)
        if name == "unresolved_n_sessions_at_state_entry":
            # N marks in the sessions up to the state's entry, as known now (not as known then)
            ends = 2 * np.maximum(book.state_day, 0) + 2
            rows = np.arange(len(book.pupils))
            n_marks = self.counts.running_count_at(Key.N, rows, ends).astype(float)
            return np.where(book.state_day >= 0, n_marks, NAN)
        if name in ("attendance_pct_at_review_start", "attendance_pct_over_review"):
            return np.full(len(book.pupils), NAN)  # only defined while a review timer fires
        raise KeyError(name)

    # -- windows that start at a different day for each pupil ------------------------------------

    def ytd_pct_at(self, days: IntArray) -> FloatArray:
        """Attendance year to date at the end of each pupil's day (NaN where day < 0)."""
        out = np.full(len(days), NAN)
        valid = days >= 0
        for day in np.unique(days[valid]):
            rows = days == day
            first = int(self.book.windows.year[day])
            pct = self.counts.attendance_pct_between(
                2 * first,
                2 * int(day) + 1,
                min_possible_sessions=self.book.ctx.flow.definition.min_possible_sessions,
            )
            out[rows] = pct[rows]
        return out

    def pct_since(self, days: IntArray) -> FloatArray:
        """Attendance over the sessions after each pupil's day, through today."""
        firsts = np.where(days >= 0, 2 * (days + 1), 2 * self.day + 2)
        pct = self.counts.attendance_pct_between(firsts, 2 * self.day + 1, min_possible_sessions=1)
        return np.where(days >= 0, pct, NAN)

    def _count_since(self, days: IntArray, *keys: Key) -> FloatArray:
        """The sessions counting for any of ``keys`` after each pupil's day, through today."""
        firsts = np.where(days >= 0, 2 * (days + 1), 2 * self.day + 2)
        window = self.counts.counts_between(firsts, 2 * self.day + 1)
        counts = sum((window.count(key) for key in keys[1:]), window.count(keys[0]))
        return np.where(days >= 0, counts.astype(float), NAN)


class _Rows(Mapping[str, Any]):
    """Some pupils' view of a ``DayEnv``: each per-pupil array at ``rows`` (computed over every
    pupil, when first asked, as before)."""

    def __init__(self, day: DayEnv, rows: npt.NDArray[np.intp]) -> None:
        self._day, self._rows = day, rows
        self._pupils = len(day.book.pupils)

    def __getitem__(self, name: str) -> Any:
        value = self._day[name]
        if isinstance(value, np.ndarray) and value.shape == (self._pupils,):
            return value[self._rows]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._day)

    def __len__(self) -> int:
        return len(self._day)


def _since(days: IntArray, today: int) -> FloatArray:
    return np.where(days >= 0, (today - days).astype(float), NAN)


_REVIEW_FACTS = frozenset({"attendance_pct_at_review_start", "attendance_pct_over_review"})
_UNSET = object()


class PupilEnv(Mapping[str, Any]):
    """One pupil's view of a ``DayEnv``: scalars, plus the firing review timer's facts."""

    def __init__(self, day: DayEnv, p: int, case: Case, review_from: int | None) -> None:
        self._day, self._p, self._case = day, p, case
        self._review_from = review_from
        # The day's values as computed so far (the same dict: read first, without a call)
        self._values = day._values
        self._reviewed: dict[str, float] = {}

    def __getitem__(self, name: str) -> Any:
        if name.endswith("_recorded"):
            return float(self._case.count_of(name.removesuffix("_recorded")))
        if self._review_from is not None and name in _REVIEW_FACTS:
            if name not in self._reviewed:
                self._reviewed[name] = self._review(name)
            return self._reviewed[name]
        value = self._values.get(name, _UNSET)
        if value is _UNSET:
            value = self._day[name]
        return value[self._p] if isinstance(value, np.ndarray) else value

    def _review(self, name: str) -> float:
        """The firing review timer's facts, from the day it was armed (only when a guard asks;
        a guard and then the reason read them, on counts that do not change in between)."""
        day, start = self._day, int(self._review_from or 0)
        if name == "attendance_pct_at_review_start":
            first = 2 * int(day.book.windows.year[start])
            minimum = day.book.ctx.flow.definition.min_possible_sessions
            return day.counts.pupil_attendance_pct(
                self._p, first, 2 * start + 1, min_possible_sessions=minimum
            )
        return day.counts.pupil_attendance_pct(
            self._p, 2 * start + 2, 2 * day.day + 1, min_possible_sessions=1
        )

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._day)

    def __len__(self) -> int:
        return len(self._day)
