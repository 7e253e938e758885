"""A school's cases under one flow version, kept between school days: ``SchoolCases``.

Besides the cases and their histories, the book keeps per-pupil numpy arrays in step with
them (stage, state, when each was entered, the earliest due timer and task, the
``<task>_recorded`` counts), so that a day's screen reads every pupil at once without walking
the cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from functools import reduce

import numpy as np
import numpy.typing as npt

from escalation_flow.core.calendar import DEFAULT_REGISTERS_CLOSE
from escalation_flow.core.case import Case, apply
from escalation_flow.core.context import Context
from escalation_flow.core.decisions import Decision, quick_init
from escalation_flow.core.definition import DAILY, TERM_END, Flow, state_flags
from escalation_flow.core.facts import DayWindows
from escalation_flow.core.guards import Guard
from escalation_flow.core.since_recorded import recorded_anchors

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
NEVER = np.iinfo(np.int64).max  # no timer or task due
_NEVER = int(NEVER)


@quick_init
@dataclass(frozen=True)
class UniversalTask:
    on: date
    pupil: str  # "" for a school-level duty's task
    task: str
    role: str
    due: date
    #: a school-level duty's task: the pupils it covers
    covers: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True)
class SchoolDuty:
    """A school-level duty's task for one day: a role's check of the pupils it covers."""

    on: date
    task: str
    role: str
    kind: str
    due: date
    covers: tuple[str, ...]


@dataclass
class SchoolCases:
    """Every case of one school under one flow, kept between school days."""

    ctx: Context
    school: str
    pupils: tuple[str, ...]
    registers_close: time = DEFAULT_REGISTERS_CLOSE
    #: the pupils this book runs cases for (None: every pupil); the others' open cases run in
    #: the book of the flow version they were opened under, so this one must not open theirs
    decides_for: BoolArray | None = None
    #: whether the flow's universal actions (the first-day call) are made from this book: only
    #: the school's current flow makes them, for every pupil
    makes_universal_tasks: bool = True
    cases: dict[int, Case] = field(default_factory=dict)
    history: dict[int, list[Decision]] = field(default_factory=dict)
    universal_tasks: list[UniversalTask] = field(default_factory=list)
    #: the school-level duties' tasks made (only by the book that makes universal tasks)
    duties: list[SchoolDuty] = field(default_factory=list)
    stage: IntArray = field(init=False)
    stage_day: IntArray = field(init=False)
    state_day: IntArray = field(init=False)
    open_day: IntArray = field(init=False)
    _windows: DayWindows | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        n = len(self.pupils)
        self.stage = np.zeros(n, np.int64)
        self.stage_day = np.full(n, -1, np.int64)
        self.state_day = np.full(n, -1, np.int64)
        self.open_day = np.full(n, -1, np.int64)
        self._index = {p: i for i, p in enumerate(self.pupils)}
        self._days: dict[date, int] = {}
        self.state_index = {name: i for i, name in enumerate(self.ctx.flow.states)}
        self.state_flags = state_flags(self.ctx.flow.definition)
        self.state_id = np.full(n, -1, np.int64)  # -1: no open case
        # the earliest due date (ordinal) of each pupil's pending timers and open tasks, so a
        # day finds what is due without walking every case
        self.timer_due = np.full(n, NEVER, np.int64)
        self.task_due = np.full(n, NEVER, np.int64)
        self._listeners = {t: _listeners(self.ctx, t) for t in (DAILY, TERM_END)}
        # ``<id>_recorded`` counts the guards read, kept per pupil as cases change
        self.recorded: dict[str, FloatArray] = {
            name: np.zeros(n) for name in _recorded_names(self.ctx.flow)
        }
        # the day each event or task a ``<measure>_since_<id>`` guard names was last recorded
        names = {n for g in self.ctx.flow.guards.values() for n in g.names}
        self.recorded_day: dict[str, IntArray] = {
            i: np.full(n, -1, np.int64) for i in sorted(recorded_anchors(names))
        }
        # The arrays as memoryviews over the same buffers, for ``load``: an element written
        # through one costs well under half of numpy's item assignment, and a year's backtest
        # loads cases tens of thousands of times, a dozen elements each. (The arrays are
        # never replaced, only written in place, so the views stay on them.)
        self._views = _Views(self)

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
        v = self._views
        if not case.is_open:
            v.stage[p] = 0
            v.state_id[p] = v.stage_day[p] = v.state_day[p] = v.open_day[p] = -1
            for _, days in v.recorded_day:
                days[p] = -1
            v.timer_due[p] = v.task_due[p] = _NEVER
            for _, recorded in v.recorded:
                recorded[p] = 0  # a float64's view takes an int as its float
            return
        day_of = self._day_of
        v.stage[p] = case.stage
        v.state_id[p] = self.state_index[case.state]
        v.timer_due[p] = min([t.due for t in case.timers]).toordinal() if case.timers else _NEVER
        v.task_due[p] = min([t.due for t in case.tasks]).toordinal() if case.tasks else _NEVER
        if v.recorded:
            counts = dict(case.event_counts)
            for event, recorded in v.recorded:
                recorded[p] = counts.get(event, 0)
        stage_on, state_on = case.stage_entered_on, case.state_entered_on
        v.stage_day[p] = day_of(stage_on) if stage_on else -1
        v.state_day[p] = day_of(state_on) if state_on else -1
        v.open_day[p] = day_of(case.opened_on) if case.opened_on else -1
        if v.recorded_day:
            on = dict(case.recorded_on)
            for i, days in v.recorded_day:
                days[p] = day_of(on[i]) if i in on else -1

    def _day_of(self, on: date) -> int:
        """The calendar's index of the school day on or before ``on``, remembered: a year's
        cases are loaded tens of thousands of times on a couple of hundred days."""
        day = self._days.get(on)
        if day is None:
            day = self._days[on] = self.ctx.calendar.index_on_or_before(on)
        return day


class _Views:
    """``SchoolCases``' per-pupil arrays as memoryviews (``ndarray.data``: the same memory), for
    ``load``."""

    def __init__(self, book: SchoolCases) -> None:
        self.stage = book.stage.data
        self.state_id = book.state_id.data
        self.stage_day = book.stage_day.data
        self.state_day = book.state_day.data
        self.open_day = book.open_day.data
        self.timer_due = book.timer_due.data
        self.task_due = book.task_due.data
        self.recorded = [
            (name.removesuffix("_recorded"), counts.data) for name, counts in book.recorded.items()
        ]
        self.recorded_day = [(i, days.data) for i, days in book.recorded_day.items()]


def _recorded_names(flow: Flow) -> set[str]:
    return {n for g in flow.guards.values() for n in g.names if n.endswith("_recorded")}


def _listeners(ctx: Context, trigger: str) -> dict[str, list[Guard | None]]:
    """For each state that listens to ``trigger``: the guards of its transitions (as the flow's
    machine holds them) and recurring tasks for it (``None``: always)."""
    flow = ctx.flow
    out: dict[str, list[Guard | None]] = {}
    for name in flow.states:
        whens = [t.when for t in ctx.machine.entries(name, trigger)]
        whens += [r.when for r in flow.state(name).state.recurring if r.trigger == trigger]
        if trigger in flow.state(name).stage.step_down_on:
            whens.append(None)  # a tier's step down reads the stage's entry: always evaluated
        whens += [side.when for side in flow.definition.side if side.trigger == trigger]
        if whens:
            out[name] = [flow.guard(w) if w else None for w in whens]
    return out
