"""A flow checked as a whole, every problem at once, then compiled into a ``Flow``.

Each ``Issue`` names the place in the file by its path (``stages[1].states.letter_due.on[0].to``);
the file adapter turns paths into line numbers. What is checked:

- names: guard names (facts, parameters, conditions, ``<event>_recorded``, ``<task>_recorded``), guard forms outside
  the allow-list, transition targets, triggers and outcomes, initial states, roles;
- the graph: states no case can reach, states from which a case can never close (stuck);
- timers: each has outcomes, and the last one is an "otherwise" (no ``when``);
- bands: ``attendance_pct`` intervals of different stages' criteria that overlap, unless one is
  marked ``overlap: intended`` with a why;
- the law: letters, referrals and legal steps need approval; legal steps only for pupils of
  compulsory school age;
- the rules every plan keeps (``core.plan_rules``): legal steps on unauthorised absence only,
  safeguarding from anywhere, a step down that stays down, no gap between bands, percentages
  that wait; a rule the flow departs from with its why is a stated exception, not an issue.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from escalation_flow.core import definition as d
from escalation_flow.core.bands import band_overlaps
from escalation_flow.core.counter_checks import (
    counter_names,
    reserved_id_problems,
    window_parameter_problems,
)
from escalation_flow.core.fact_names import ALL_FACTS
from escalation_flow.core.graph_checks import graph_problems
from escalation_flow.core.guard_sites import guard_sites
from escalation_flow.core.guards import Guard, GuardError, compile_guard, guard_names
from escalation_flow.core.plan_rules import plan_rule_problems
from escalation_flow.core.timer_checks import timer_problems

Loc = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Issue:
    loc: Loc
    message: str

    @property
    def field(self) -> str:
        return loc_text(self.loc)


def loc_text(loc: Loc, stage_numbers: Mapping[int, object] | None = None) -> str:
    """A path as text; with ``stage_numbers`` (a stage's position to its number) a stage is
    named by the plan's number, ``stages[number=3]``, not by its 0-based position."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            number = stage_numbers.get(part) if stage_numbers and i == 1 else None
            named = i == 1 and loc[0] == "stages" and number is not None
            out += f"[number={number}]" if named else f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class _Context:
    flow: d.FlowDefinition
    issues: list[Issue] = field(default_factory=list)
    guards: dict[str, Guard] = field(default_factory=dict)
    conditions: dict[str, Guard] = field(default_factory=dict)

    def add(self, loc: Loc, message: str) -> None:
        self.issues.append(Issue(loc, message))

    @property
    def names(self) -> set[str]:
        # a manual event, or a task completed, counts towards ``<id>_recorded`` in its case
        events = {f"{e.id}_recorded" for e in self.flow.events}
        tasks = {f"{task.id}_recorded" for _, task in _tasks(self.flow)}
        flags = d.outcome_flags(self.flow) | set(d.state_flags(self.flow))
        counters = counter_names(self.flow)
        return set(ALL_FACTS) | set(self.flow.parameters) | events | tasks | counters | flags


def compile_flow(
    flow: d.FlowDefinition, version: str, path: str
) -> tuple[d.Flow | None, list[Issue]]:
    """Check ``flow``; return the compiled ``Flow`` (None if any issue) and every issue."""
    ctx = _Context(flow)
    _check_ids(ctx)
    _compile_conditions(ctx)
    for loc, expression in guard_sites(flow):
        _compile(ctx, loc, expression)
    sites = [(loc, ctx.guards.get(e)) for loc, e in guard_sites(flow)]
    for loc, message in window_parameter_problems(flow, sites):
        ctx.add(loc, message)
    entry, criteria = _compile_entries(ctx)
    _check_tasks(ctx)
    _check_transitions(ctx)
    _check_timers(ctx)
    if not any(issue.loc[-1] == "to" for issue in ctx.issues):
        # with a target unknown the graph is incomplete: fix names first
        for loc, message in graph_problems(ctx.flow):
            ctx.add(loc, message)
    for loc, message in band_overlaps(ctx.flow):
        ctx.add(loc, message)
    if not ctx.issues:  # the rules read guards and targets: only once those are sound
        for loc, message in plan_rule_problems(ctx.flow)[0]:
            ctx.add(loc, message)
    if ctx.issues:
        return None, sorted(set(ctx.issues))
    built = d.Flow(flow, version, path, dict(ctx.guards), entry, criteria, d.state_refs(flow))
    return built, []


# -- names and ids ------------------------------------------------------------------------------


def _check_ids(ctx: _Context) -> None:
    flow = ctx.flow
    seen_numbers: set[int] = set()
    for i, stage in enumerate(flow.stages):
        if stage.number in seen_numbers:
            ctx.add(("stages", i, "number"), f"stage {stage.number} is defined twice")
        seen_numbers.add(stage.number)
        for k, sid in enumerate(stage.initial_states):
            if sid not in stage.states:
                loc: Loc = ("stages", i, "initial")
                if isinstance(stage.initial, tuple):
                    loc = (*loc, k, "state")
                ctx.add(loc, _unknown("state", sid, stage.states))
        if stage.entry is not None:
            ids = [c.id for c in stage.entry.criteria()]
            for dup in sorted({x for x in ids if ids.count(x) > 1}):
                ctx.add(("stages", i, "entry"), f"criterion id {dup!r} repeats")
    event_ids = [e.id for e in flow.events]
    task_ids = {t.id for _, t in _tasks(flow)}
    for loc, task in _tasks(flow):
        if "_outcome_" in task.id:
            ctx.add((*loc, "id"), f"{task.id!r}: '_outcome_' in an id would read as an outcome")
    for j, event in enumerate(flow.events):
        if event_ids.count(event.id) > 1:
            ctx.add(("events", j, "id"), f"event {event.id!r} is defined twice")
        if event.id in d.UNIVERSAL_TRIGGERS or event.id in task_ids:
            ctx.add(("events", j, "id"), f"event {event.id!r} has the name of a task or trigger")
    for loc, message in reserved_id_problems(flow):
        ctx.add(loc, message)
    clash = (set(ALL_FACTS) | set(flow.conditions)) & set(flow.parameters)
    for name in sorted(clash):
        ctx.add(("parameters", name), f"parameter {name!r} has the name of a fact or condition")
    for name in sorted(set(ALL_FACTS) & set(flow.conditions)):
        ctx.add(("conditions", name), f"condition {name!r} has the name of a fact")


def _unknown(
    what: str, name: str, known: Mapping[str, object] | set[str] | list[str], note: str = ""
) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {name!r}{f' ({note})' if note else ''}{hint}"


# -- guards -------------------------------------------------------------------------------------


def _compile(ctx: _Context, loc: Loc, expression: str) -> Guard | None:
    if expression in ctx.guards:
        return ctx.guards[expression]
    try:
        guard = compile_guard(expression, ctx.names, ctx.conditions)
    except GuardError as exc:
        known = ctx.names | set(ctx.conditions)
        for problem in exc.problems:
            name = next((u for u in exc.unknown if problem == f"unknown name {u!r}"), None)
            if name in ctx.flow.conditions:
                continue  # a broken condition: reported where it is defined
            if name is not None:
                note = (
                    "not a fact, parameter, condition, <event>_recorded, <task>_recorded, "
                    "<task>_outcome_<outcome>_recorded or state_<stage>_<state>"
                )
                problem = _unknown("name", name, known, note)
            ctx.add(loc, problem)
        return None
    ctx.guards[expression] = guard
    return guard


def _compile_conditions(ctx: _Context) -> None:
    """Conditions may use each other: compile in dependency order, refuse cycles."""
    pending = dict(ctx.flow.conditions)
    while pending:
        progressed = False
        for name, condition in list(pending.items()):
            waiting = set(_names_in(condition.when)) & set(pending) - {name}
            if waiting:
                continue
            if name in _names_in(condition.when):
                ctx.add(("conditions", name, "when"), f"condition {name!r} uses itself")
            else:
                guard = _compile(ctx, ("conditions", name, "when"), condition.when)
                if guard is not None:
                    ctx.conditions[name] = guard
            del pending[name]
            progressed = True
        if not progressed:
            for name in pending:
                ctx.add(("conditions", name, "when"), f"condition {name!r} is part of a cycle")
            return


def _names_in(expression: str) -> list[str]:
    return sorted(guard_names(expression))


def _compile_entries(
    ctx: _Context,
) -> tuple[dict[int, Guard], dict[int, tuple[tuple[str, Guard], ...]]]:
    entry: dict[int, Guard] = {}
    criteria: dict[int, tuple[tuple[str, Guard], ...]] = {}
    for i, stage in enumerate(ctx.flow.stages):
        if stage.entry is None:
            continue
        compiled = [(c.id, ctx.guards.get(c.when)) for c in stage.entry.criteria()]
        if any(g is None for _, g in compiled):
            continue
        criteria[stage.number] = tuple((cid, g) for cid, g in compiled if g is not None)
        whole = _compile(ctx, ("stages", i, "entry"), _criteria_source(stage.entry))
        if whole is not None:
            entry[stage.number] = whole
    return entry, criteria


def _criteria_source(criteria: d.Criteria) -> str:
    parts = [
        item.when if isinstance(item, d.Criterion) else _criteria_source(item)
        for item in criteria.items
    ]
    return f" {'or' if criteria.mode == 'any' else 'and'} ".join(f"({p})" for p in parts)


# -- tasks, transitions, timers -----------------------------------------------------------------


def _tasks(flow: d.FlowDefinition) -> Iterator[tuple[Loc, d.Task]]:
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            for k, task in enumerate(state.tasks):
                yield ("stages", i, "states", sid, "tasks", k), task
            for k, rec in enumerate(state.recurring):
                yield ("stages", i, "states", sid, "recurring", k, "task"), rec.task
    for k, rec in enumerate(flow.universal):
        yield ("universal", k, "task"), rec.task
    for k, side in enumerate(flow.side):
        for j, task in enumerate(side.tasks):
            yield ("side", k, "tasks", j), task


def _check_tasks(ctx: _Context) -> None:
    roles = set(ctx.flow.roles)
    for loc, task in _tasks(ctx.flow):
        if task.lapses_after is not None and loc[0] != "universal":
            ctx.add(
                (*loc, "lapses_after"),
                "only a universal action's task lapses: a case's task ends when the case moves on",
            )
        if roles and task.role not in roles:
            ctx.add((*loc, "role"), f"role {task.role.value!r} is not in the flow's roles")
        if task.kind in d.NEEDS_APPROVAL and task.approval is not d.Approval.REQUIRED:
            ctx.add(
                (*loc, "approval"),
                f"a {task.kind.value} task needs approval: required (a named person approves "
                "every letter to a parent, referral and legal step)",
            )
        if task.kind is d.TaskKind.LEGAL:
            guard = ctx.guards.get(task.when or "")
            # The threshold fact holds only for a pupil of compulsory school age.
            of_age = {"compulsory_school_age", "penalty_notice_threshold_met"}
            if guard is None or not of_age & set(guard.names):
                ctx.add(
                    (*loc, "when"),
                    "a legal step applies only to pupils of compulsory school age: "
                    "its when must use compulsory_school_age (or penalty_notice_threshold_met)",
                )
    task_ids = {task.id for _, task in _tasks(ctx.flow)}
    for k, duty in enumerate(ctx.flow.duties):
        if roles and duty.role not in roles:
            ctx.add(("duties", k, "role"), f"role {duty.role.value!r} is not in the flow's roles")
        if duty.id in task_ids:
            ctx.add(("duties", k, "id"), f"duty {duty.id!r} has the name of a task")
        if duty.kind in d.NEEDS_APPROVAL:
            ctx.add(("duties", k, "kind"), "a duty is a check, not a letter, referral or legal step")
    for i, stage in enumerate(ctx.flow.stages):
        for sid, state in stage.states.items():
            ids = [t.id for t in state.tasks] + [r.task.id for r in state.recurring]
            ids += [t.id for t in state.timers]
            for dup in sorted({x for x in ids if ids.count(x) > 1}):
                ctx.add(("stages", i, "states", sid), f"task or timer id {dup!r} repeats")


def _check_transitions(ctx: _Context) -> None:
    flow = ctx.flow
    events = {e.id: e for e in flow.events}
    for i, stage in enumerate(flow.stages):
        stage_tasks = {t.id: t for s in stage.states.values() for t in _state_tasks(s)}
        stage_timers = {t.id for s in stage.states.values() for t in s.timers}
        for sid, state in stage.states.items():
            tasks = {t.id: t for t in _state_tasks(state)}
            timers = {t.id for t in state.timers}
            loc: Loc = ("stages", i, "states", sid, "on")
            _check_on(ctx, loc, state.on, stage, tasks, timers, events)
        _check_on(ctx, ("stages", i, "on"), stage.on, stage, stage_tasks, stage_timers, events)
        for k, trigger in enumerate(stage.step_down_on):
            if trigger not in {*stage_tasks, *stage_timers, d.DAILY}:
                known = [*stage_tasks, *stage_timers, d.DAILY]
                note = "not a task or timer of the stage, or daily"
                message = _unknown("trigger", trigger, known, note)
                ctx.add(("stages", i, "step_down_on", k), message)
    _check_on(ctx, ("anywhere",), flow.anywhere, None, {}, set(), events)
    for k, side in enumerate(flow.side):
        if side.trigger not in events and side.trigger != d.DAILY:
            known = [*events, d.DAILY]
            message = _unknown("trigger", side.trigger, known, "a side action runs on an event or daily")
            ctx.add(("side", k, "trigger"), message)


def _state_tasks(state: d.State) -> list[d.Task]:
    return list(state.tasks) + [r.task for r in state.recurring]


def _check_on(
    ctx: _Context,
    loc: Loc,
    entries: tuple[d.Transition, ...],
    stage: d.Stage | None,
    tasks: Mapping[str, d.Task],
    timers: set[str],
    events: Mapping[str, d.Event],
) -> None:
    always: dict[str, int] = {}
    for k, t in enumerate(entries):
        here = (*loc, k)
        if t.trigger in always:
            ctx.add(
                (*here, "trigger"),
                f"never taken: on[{always[t.trigger]}] for "
                f"{t.trigger!r} has no when and no outcome, so it always goes first",
            )
        outcomes: tuple[str, ...] | None = None
        if t.trigger in tasks:
            outcomes = tasks[t.trigger].outcomes
        elif t.trigger in events:
            outcomes = events[t.trigger].outcomes
        elif t.trigger not in timers and t.trigger != d.DAILY:
            known = [*tasks, *timers, *events, d.DAILY]
            note = "not a task or timer here, an event, or daily"
            ctx.add((*here, "trigger"), _unknown("trigger", t.trigger, known, note))
        if t.outcome is not None and t.outcome not in (outcomes or ()):
            message = (
                _unknown(
                    "outcome", t.outcome, list(outcomes), f"{t.trigger} has {', '.join(outcomes)}"
                )
                if outcomes
                else f"{t.trigger!r} has no outcomes to filter on"
            )
            ctx.add((*here, "outcome"), message)
        try:
            d.resolve_target(ctx.flow, t.to, stage)
        except KeyError:
            known_targets = [*(stage.states if stage else ()), *d.state_names(ctx.flow)]
            known_targets += [s.key for s in ctx.flow.stages if not s.universal]
            ctx.add((*here, "to"), _unknown("state", t.to, known_targets))
        if t.when is None and t.outcome is None:
            always.setdefault(t.trigger, k)


def _check_timers(ctx: _Context) -> None:
    for loc, message in timer_problems(ctx.flow):
        ctx.add(loc, message)
