"""How long a timer runs when it is armed: its length chosen on the facts (``after_when``, first
match, else ``after``), an amount read from a parameter, and a repeating timer armed again.

Pure: the guards read the pupil's environment (facts and the parameters of the day's term).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from escalation_flow.core.context import Context
from escalation_flow.core.definition import Duration, Timer

Env = Mapping[str, Any]


def timer_length(ctx: Context, timer: Timer, env: Env, *, repeat: bool = False) -> Duration:
    """The length ``timer`` runs when armed now: ``every`` for a repeat, else the first
    ``after_when`` whose guard holds, else ``after`` (a parameter's amount read from ``env``)."""
    if repeat and timer.every is not None:
        return concrete(ctx, timer.every, env)
    for choice in timer.after_when:
        if ctx.flow.guard(choice.when).holds(env):
            return concrete(ctx, choice.after, env)
    return concrete(ctx, timer.first, env)


def concrete(ctx: Context, length: Duration, env: Env) -> Duration:
    """``length`` with a parameter's value in place of its name (the checks make every value of
    such a parameter a whole number of at least 0, or 1 for ``every``)."""
    name = length.parameter
    if name is None:
        return length
    value = float(env[name])
    if math.isnan(value):
        raise ValueError(f"parameter {name} has no value for a timer")
    return ctx.duration(length.unit, int(value))


def next_due(ctx: Context, after: date, every: Duration, today: date) -> date:
    """A repeating timer's next due date: ``every`` after the due date it fired for, moved on
    by ``every`` again while that is not after ``today`` (a firing missed while nothing ran
    is not made up: one firing per due time, none twice)."""
    due = ctx.due(after, every, for_timer=True)
    while due <= today:
        due = ctx.due(due, every, for_timer=True)
    return due
