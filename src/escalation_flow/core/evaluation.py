"""The one evaluation: one stimulus for one pupil's case, on the day's environment.

Every caller walks this road: the school day (timers, staff actions, the evening), the
backtest (through the school day), replay and the quiet-evening check (``audit``), and the
service's timers and staff actions::

    stimulus ─► evaluate(ctx, case, day, pupil, stimulus, moment) ─► decisions ─► case.apply

``evaluate`` builds the pupil's environment itself (for a review timer, the review window from
the day the timer was armed), so that no caller can put a different question to the engine.

The evening's order for one pupil is also defined here, once: ``amended`` (when the pupil's
earlier marks changed), ``daily``, then ``term_end`` on a term's last day (``EVENING``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple

from escalation_flow.core import engine
from escalation_flow.core.case import Case
from escalation_flow.core.context import Context, Moment
from escalation_flow.core.day_env import DayEnv
from escalation_flow.core.decisions import Decision, Stimulus
from escalation_flow.core.definition import DAILY, TERM_END

AMENDED = "amended"
#: The evening's stimuli, in the order a pupil meets them.
EVENING = (AMENDED, DAILY, TERM_END)


class Evaluation(NamedTuple):
    """What one evaluation decided, and the case those decisions leave."""

    decisions: list[Decision]
    case: Case


def evaluate(
    ctx: Context, case: Case, day: DayEnv, pupil: int, stimulus: Stimulus, moment: Moment
) -> Evaluation:
    """The decisions ``stimulus`` leads to for ``case`` (pupil ``pupil`` of the day's book), on
    the facts of ``day``, taken at ``moment``."""
    review_from = _review_from(ctx, case, stimulus)
    env = day.pupil(pupil, case, review_from)
    entered = _on_entry(ctx, case, day, pupil) if stimulus.kind == AMENDED else None
    decisions, after = engine.decide(ctx, case, env, moment, stimulus, entered=entered)
    return Evaluation(decisions, after)


def _on_entry(
    ctx: Context, case: Case, day: DayEnv, pupil: int
) -> Callable[[], Mapping[str, Any] | None] | None:
    """The pupil's names at the end of the school day its case entered its state (on or
    before it, for a step taken on another day): the register's as it is known now, the case's
    own as they were when the step was taken; asked only when today's do not hold. They are
    None for a step taken before the calendar's first day: it rested on no mark this register
    holds, so no amendment of them can undo it. None itself: that day is after today (a day
    evaluated again with --force), and today's names answer, as before."""
    if case.state_entered_on is None:
        return None
    entry = ctx.calendar.index_on_or_before(case.state_entered_on)
    if entry > day.day:
        return None
    if entry < 0:
        return _nothing_to_read
    return lambda: day.on_day(entry).as_taken(pupil, case)


def _nothing_to_read() -> None:
    return None


def _review_from(ctx: Context, case: Case, stimulus: Stimulus) -> int | None:
    """For a review timer: the school day it was armed on, where its review window starts."""
    if stimulus.kind != "timer":
        return None
    armed = next((t for t in case.timers if t.key == stimulus.name), None)
    return None if armed is None else ctx.calendar.index_on_or_before(armed.armed_on)


def evening_kinds(*, amended: bool, term_end: bool) -> tuple[str, ...]:
    """The evening's stimulus kinds, in ``EVENING``'s order: ``amended`` when earlier marks
    changed, ``term_end`` on a term's last day."""
    return tuple(k for k in EVENING if (k != AMENDED or amended) and (k != TERM_END or term_end))


@cache
def evening_stimulus(kind: str, screened: int | None = None) -> Stimulus:
    """The evening's stimulus of ``kind``; for ``daily``, ``screened`` is the stage the day's
    screen found (0: none above the case's; None: the engine looks for itself). One stimulus
    of each kind serves every case (the engine only reads it)."""
    if kind == DAILY and screened is not None:
        return Stimulus(DAILY, extra={"screened_stage": screened})
    return Stimulus(kind)


def evening_stimuli(*, amended: bool, screened: int | None, term_end: bool) -> list[Stimulus]:
    """One pupil's evening: its stimuli in order."""
    kinds = evening_kinds(amended=amended, term_end=term_end)
    return [evening_stimulus(k, screened) for k in kinds]


def evening(
    ctx: Context,
    case: Case,
    day: DayEnv,
    pupil: int,
    moment: Moment,
    *,
    amended: bool,
    screened: int | None,
    term_end: bool,
) -> Evaluation:
    """One pupil's evening: each stimulus on the case the one before left. Each stimulus's
    decisions are recorded in the day's book before the next (the environment reads it)."""
    decided: list[Decision] = []
    for stimulus in evening_stimuli(amended=amended, screened=screened, term_end=term_end):
        decisions, case = evaluate(ctx, case, day, pupil, stimulus, moment)
        day.book.record(pupil, decisions, case)
        decided.extend(decisions)
    return Evaluation(decided, case)
