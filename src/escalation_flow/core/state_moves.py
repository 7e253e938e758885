"""How a case moves between states, and the records a move makes.

The engine (``core/engine.py``) says what a stimulus means for a case; it moves the case only
through here: ``follow`` (the first transition for a trigger whose guard holds, as the flow's
machine answers), ``goto`` (leave the state, open or enter, record why) and ``enter`` (the
state's tasks and timers). Each decision is folded into the case as it is made (``Decided``),
so serials and state stay right for the next. Nothing here calls back into the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from escalation_flow.core.case import CLOSED, NO_CASE, Case, apply_to_own, replace
from escalation_flow.core.context import Context, Moment
from escalation_flow.core.decisions import (
    CaseClosed,
    CaseOpened,
    Decision,
    FactValue,
    Reason,
    StageEntered,
    StateEntered,
    TaskCreated,
    TaskSuperseded,
    TimerArmed,
    TimerCancelled,
)
from escalation_flow.core.definition import Duration, Stage, Task, Timer, Transition
from escalation_flow.core.guards import Guard
from escalation_flow.core.timer_lengths import timer_length

Env = Mapping[str, Any]


class Decided:
    """Decisions so far, and the case as they leave it (so serials and state stay right).

    The case handed in is the book's and stays as it is; the first decision copies it, and
    every decision is folded into that copy in place (``case.apply_to_own``), which nothing
    else holds until the evaluation returns it. A caller reading ``case`` between decisions
    reads it as the decisions so far leave it, as before; one keeping it across a decision
    must keep the fields it needs instead (the engine reads fields, tuples that do not move)."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.decisions: list[Decision] = []
        self._own = False

    def emit(self, decision: Decision) -> None:
        self.decisions.append(decision)
        if not self._own:
            self.case = replace(self.case)
            self._own = True
        apply_to_own(self.case, decision)


def facts_named(
    ctx: Context, env: Env, guards: tuple[Guard, ...]
) -> tuple[tuple[str, FactValue], ...]:
    return tuple([(n, _plain(env.get(n))) for n in ctx.reason_names(guards)])


def _plain(value: Any) -> FactValue:
    if value is None or isinstance(value, str):
        return value
    f = float(value)
    if math.isnan(f):
        return None
    return int(f) if f.is_integer() else round(f, 4)


# -- moving between states -------------------------------------------------------------------------


def follow(
    ctx: Context, out: Decided, env: Env, now: Moment, trigger: str, outcome: str | None
) -> None:
    """Take the first transition for ``trigger`` (and ``outcome``) whose guard holds."""
    if out.case.is_open and step_down(ctx, out, env, now, trigger):
        return
    chosen = choose(ctx, out.case, env, trigger, outcome)
    if chosen is not None:
        take(ctx, out, env, now, trigger, chosen)


def take(
    ctx: Context, out: Decided, env: Env, now: Moment, trigger: str, chosen: tuple[Transition, str]
) -> None:
    transition, target = chosen
    stage = stage_named(ctx, transition.to)
    if stage is not None:
        target = entry_state(ctx, stage, env)
    if transition.when:
        guard: str | None = transition.when
        facts = facts_named(ctx, env, (ctx.flow.guard(transition.when),))
    else:
        # "otherwise": the record says which guards did not hold, and on what figures
        failed = _passed_over(ctx, out.case, trigger, transition)
        guard = f"otherwise: not ({' or '.join(failed)})" if failed else None
        facts = facts_named(ctx, env, tuple(ctx.flow.guard(w) for w in failed))
    reason = Reason(
        trigger=trigger, criterion=transition.outcome, guard=guard, facts=facts,
        quote=transition.quote,
    )
    goto(ctx, out, env, now, target, reason)


def stage_named(ctx: Context, target: str) -> Stage | None:
    """The stage a transition's ``to`` names as a whole (``stage_3``), if it does."""
    number = target.removeprefix("stage_")
    if target.startswith("stage_") and number.isdigit():
        return ctx.flow.stage(int(number))
    return None


def entry_state(ctx: Context, stage: Stage, env: Env) -> str:
    """The state a case enters ``stage`` in: the first initial choice whose ``when`` holds, else
    the default."""
    if isinstance(stage.initial, tuple):
        for choice in stage.initial:
            if choice.when is None or ctx.flow.guard(choice.when).holds(env):
                return stage.full_name(choice.state)
    first = stage.default_initial
    assert first is not None  # a stage with states has one (checked on load)
    return stage.full_name(first)


def step_down(ctx: Context, out: Decided, env: Env, now: Moment, trigger: str) -> bool:
    """A tier (``step_down_on``): on ``trigger``, a case whose stage's entry no longer holds
    steps down to the highest lower stage whose entry holds, or closes. Whether it did."""
    stage = ctx.flow.state(out.case.state).stage
    entry = ctx.flow.entry.get(stage.number)
    if trigger not in stage.step_down_on or entry is None or entry(env) != 0.0:
        return False  # the band still holds, or is unknown: the case stays
    target = CLOSED
    for lower in ctx.escalating_stages:
        if lower.number < stage.number and ctx.flow.entry[lower.number].holds(env):
            target = entry_state(ctx, lower, env)
            break
    reason = Reason(
        trigger=trigger, guard=f"not ({entry.source})", facts=facts_named(ctx, env, (entry,)),
        quote=f"stage {stage.number}'s entry no longer holds: the case steps down",
    )  # fmt: skip
    goto(ctx, out, env, now, target, reason)
    return True


def _passed_over(ctx: Context, case: Case, trigger: str, taken: Transition) -> list[str]:
    """The guards of the entries for ``trigger`` tried before ``taken`` (they did not hold)."""
    if case.state not in ctx.flow.states:
        return []  # a case an ``anywhere`` move is opening: no state yet, nothing passed over
    failed: list[str] = []
    for t in ctx.machine.entries(case.state, trigger):
        if t is taken:
            break
        if t.when:
            failed.append(t.when)
    return failed


def choose(
    ctx: Context, case: Case, env: Env, trigger: str, outcome: str | None
) -> tuple[Transition, str] | None:
    """The flow's state machine answers (for a pupil without an open case: its ``anywhere``)."""
    move = ctx.machine.next_state(case.state if case.is_open else NO_CASE, trigger, env, outcome)
    return None if move is None else (move.entry, move.target)


def goto(
    ctx: Context, out: Decided, env: Env, now: Moment, target: str, reason: Reason,
    *, returning: bool = False, why: str | None = None,
) -> None:
    if target == CLOSED:
        if out.case.is_open:
            leave(out, now, "case closed")
            out.emit(CaseClosed(on=now.on, at=now.at, reason=reason))
        return
    ref = ctx.flow.state(target)
    # a side action's tasks stay while the case moves within its stage, not to another stage
    keep = ctx.side_tasks if ref.stage.number == out.case.stage else frozenset()
    leave(out, now, why or f"moved to {target}", keep=keep)
    if not out.case.is_open:
        out.emit(opened(ctx, now))
    if ref.stage.number != out.case.stage:
        out.emit(
            StageEntered(
                on=now.on,
                at=now.at,
                stage=ref.stage.number,
                state=target,
                from_stage=out.case.stage,
                reason=reason,
            )
        )
    else:
        out.emit(
            StateEntered(
                on=now.on, at=now.at, state=target, from_state=out.case.state, reason=reason
            )
        )
    enter(ctx, out, env, now, target, returning=returning)


def opened(ctx: Context, now: Moment) -> CaseOpened:
    return CaseOpened(on=now.on, at=now.at, flow=ctx.flow.id, flow_version=ctx.flow.version)


def leave(out: Decided, now: Moment, why: str, keep: frozenset[str] = frozenset()) -> None:
    """Leave the state: its timers cancelled, its open tasks superseded (but those named in
    ``keep``: side actions' tasks, when the case moves and stays open)."""
    for timer in out.case.timers:
        out.emit(
            TimerCancelled(on=now.on, at=now.at, timer_key=timer.key, timer=timer.timer, why=why)
        )
    for task in out.case.tasks:
        if task.task in keep:
            continue
        out.emit(TaskSuperseded(on=now.on, at=now.at, task_key=task.key, task=task.task, why=why))


class CaseNow(Mapping[str, Any]):
    """``env`` with what the case is now (its state flags, stage and ``<id>_recorded`` counts)
    in place of the day's figures, which were read before this stimulus moved it: a side
    action taken the evening a case escalated reads the state it escalated to."""

    def __init__(self, ctx: Context, env: Env, case: Case) -> None:
        self._ctx, self._env, self._case = ctx, env, case

    def __getitem__(self, name: str) -> Any:
        flags = self._ctx.state_flags
        if name in flags:
            return 1.0 if flags[name] == self._case.state else 0.0
        if name == "stage":
            return float(self._case.stage)
        if name.endswith("_recorded"):
            return float(self._case.count_of(name.removesuffix("_recorded")))
        return self._env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def side_actions(ctx: Context, out: Decided, env: Env, now: Moment, trigger: str) -> None:
    """The side actions for ``trigger`` (an open case only): their tasks created in the case,
    which stays where it is; not again while the same task is open."""
    if not out.case.is_open:
        return
    env = CaseNow(ctx, env, out.case)
    for side in ctx.flow.definition.side:
        if side.trigger != trigger:
            continue
        if side.when is not None and not ctx.flow.guard(side.when).holds(env):
            continue
        for task in side.tasks:
            if out.case.open_task_named(task.id) is not None:
                continue
            if task.when is None or ctx.flow.guard(task.when).holds(env):
                out.emit(task_created(ctx, task, now, out.case.task_serial + 1))


def enter(
    ctx: Context, out: Decided, env: Env, now: Moment, target: str, *, returning: bool = False
) -> None:
    state = ctx.flow.state(target).state
    for task in state.tasks:
        if returning and out.case.count_of(task.id):
            continue  # back in a state after an amendment: what was done stays done
        if task.when is None or ctx.flow.guard(task.when).holds(env):
            out.emit(task_created(ctx, task, now, out.case.task_serial + 1))
    for timer in state.timers:
        length = timer_length(ctx, timer, env)
        due = ctx.due(now.on, length, for_timer=True)
        out.emit(timer_armed(ctx, timer, now, out.case.timer_serial + 1, length, due))


def task_created(ctx: Context, task: Task, now: Moment, serial: int) -> TaskCreated:
    role, kind, approval = ctx.task_parts(task)
    return TaskCreated(
        on=now.on,
        at=now.at,
        task_key=f"{task.id}#{serial}",
        task=task.id,
        role=role,
        kind=kind,
        due=ctx.due(now.on, task.due, for_timer=False),
        approval=approval,
        template=task.template,
        outcomes=task.outcomes,
    )


def timer_armed(
    ctx: Context, timer: Timer, now: Moment, serial: int, length: Duration, due: date
) -> TimerArmed:
    """``timer`` armed now for ``length`` (as ``timer_lengths`` chose it), due on ``due``."""
    fire_at, rule = ctx.firing(timer, length, due)
    return TimerArmed(
        on=now.on,
        at=now.at,
        timer_key=f"{timer.id}#{serial}",
        timer=timer.id,
        due=due,
        fire_at=fire_at,
        rule=rule,
        calendar_version=ctx.calendar.version,
    )
