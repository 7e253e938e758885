"""The checks of a flow's timers and recurring tasks (``core.checks`` runs them with the rest).

- a timer's outcomes: a timer that does not repeat needs ``on`` entries for it, the last an
  "otherwise" (no ``when``), or the case is left with no timer; a repeating one (``every``)
  needs an ``on`` entry or a recurring task for it, and is armed again when none is taken;
- a length that names a parameter: the parameter exists, and each of its values (per term) is a
  whole number, at least 1 for ``every``; only a timer's length may name one;
- a recurring task's trigger: ``daily``, ``term_end`` or (in a state) a timer of that state.
"""

from __future__ import annotations

from collections.abc import Iterator

from escalation_flow.core import definition as d

Loc = tuple[str | int, ...]
Found = tuple[Loc, str]


def timer_problems(flow: d.FlowDefinition) -> list[Found]:
    found: list[Found] = []
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            base: Loc = ("stages", i, "states", sid)
            for k, timer in enumerate(state.timers):
                found += _outcomes((*base, "timers", k), timer, state, stage)
                found += _lengths(flow, (*base, "timers", k), timer)
            timers = {t.id for t in state.timers}
            for k, rec in enumerate(state.recurring):
                if rec.trigger not in (*d.UNIVERSAL_TRIGGERS, *timers):
                    message = (
                        f"unknown trigger {rec.trigger!r} for a recurring task: daily, term_end "
                        "or a timer of this state"
                    )
                    found.append(((*base, "recurring", k, "trigger"), message))
    for k, rec in enumerate(flow.universal):
        if rec.trigger not in d.UNIVERSAL_TRIGGERS:
            message = f"a universal action's trigger is daily or term_end, not {rec.trigger!r}"
            found.append((("universal", k, "trigger"), message))
    for loc, length in _other_durations(flow):
        if length.parameter is not None:
            message = (
                f"{length.parameter!r}: only a timer's length may name a parameter; write a "
                "number here"
            )
            found.append((loc, message))
    return found


def _outcomes(loc: Loc, timer: d.Timer, state: d.State, stage: d.Stage) -> list[Found]:
    outcomes = [t for t in state.on + stage.on if t.trigger == timer.id]
    recurring = [r for r in state.recurring if r.trigger == timer.id]
    if timer.every is not None:
        if outcomes or recurring:
            return []
        message = (
            f"repeating timer {timer.id!r} does nothing: add an on entry or a recurring task "
            f"with trigger: {timer.id}"
        )
        return [((*loc, "id"), message)]
    if not outcomes:
        message = f"timer {timer.id!r} has no outcome: add an on entry with trigger: {timer.id}"
        return [((*loc, "id"), message)]
    if outcomes[-1].when is not None:
        message = (
            f"timer {timer.id!r} has no otherwise: the last on entry for it must have no when, "
            "or the case is left with no timer"
        )
        return [((*loc, "id"), message)]
    return []


def _lengths(flow: d.FlowDefinition, loc: Loc, timer: d.Timer) -> list[Found]:
    found: list[Found] = []
    places: list[tuple[Loc, d.Duration | None, int]] = [
        ((*loc, "after"), timer.after, 0),
        ((*loc, "every"), timer.every, 1),
    ]
    places += [((*loc, "after_when", j, "after"), c.after, 0) for j, c in enumerate(timer.after_when)]
    for here, length, least in places:
        if length is None:
            continue
        name = length.parameter
        if name is None:
            if length.amount < least:
                found.append((here, "a repeating timer's length is at least 1"))
            continue
        parameter = flow.parameters.get(name)
        if parameter is None:
            found.append((here, f"unknown parameter {name!r} for a timer's length"))
            continue
        values = [parameter.for_term(term) for term in d.TERMS]
        if any(v != int(v) or v < least for v in values):
            message = (
                f"parameter {name!r} gives a timer's length: each value must be a whole number "
                f"of at least {least}"
            )
            found.append((here, message))
    return found


def _other_durations(flow: d.FlowDefinition) -> Iterator[tuple[Loc, d.Duration]]:
    """Every duration that is not a timer's: tasks' due and lapses_after."""
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            base: Loc = ("stages", i, "states", sid)
            for k, task in enumerate(state.tasks):
                yield from _task_durations((*base, "tasks", k), task)
            for k, rec in enumerate(state.recurring):
                yield from _task_durations((*base, "recurring", k, "task"), rec.task)
    for k, rec in enumerate(flow.universal):
        yield from _task_durations(("universal", k, "task"), rec.task)


def _task_durations(loc: Loc, task: d.Task) -> Iterator[tuple[Loc, d.Duration]]:
    yield (*loc, "due"), task.due
    if task.lapses_after is not None:
        yield (*loc, "lapses_after"), task.lapses_after
