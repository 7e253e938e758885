"""Where a flow's guards are written: every ``when`` (entry criteria, first-state choices,
tasks, recurring tasks, transitions, timer lengths, side actions) and every duty's ``covers``,
with its place in the file, for ``core.checks`` to compile and name."""

from __future__ import annotations

from collections.abc import Iterator

from escalation_flow.core import definition as d

Loc = tuple[str | int, ...]


def guard_sites(flow: d.FlowDefinition) -> Iterator[tuple[Loc, str]]:
    """Every guard expression in the file with its place, in file order."""
    for i, stage in enumerate(flow.stages):
        if stage.entry is not None:
            yield from _criteria_sites(("stages", i, "entry"), stage.entry)
        for k, first in enumerate(stage.initial if isinstance(stage.initial, tuple) else ()):
            if first.when:
                yield ("stages", i, "initial", k, "when"), first.when
        for sid, state in stage.states.items():
            base: Loc = ("stages", i, "states", sid)
            for k, task in enumerate(state.tasks):
                if task.when:
                    yield (*base, "tasks", k, "when"), task.when
            for k, rec in enumerate(state.recurring):
                yield from _recurring_sites((*base, "recurring", k), rec)
            for k, t in enumerate(state.on):
                if t.when:
                    yield (*base, "on", k, "when"), t.when
            for k, timer in enumerate(state.timers):
                for j, choice in enumerate(timer.after_when):
                    yield (*base, "timers", k, "after_when", j, "when"), choice.when
        for k, t in enumerate(stage.on):
            if t.when:
                yield ("stages", i, "on", k, "when"), t.when
    for k, t in enumerate(flow.anywhere):
        if t.when:
            yield ("anywhere", k, "when"), t.when
    for k, rec in enumerate(flow.universal):
        yield from _recurring_sites(("universal", k), rec)
    for k, duty in enumerate(flow.duties):
        yield ("duties", k, "covers"), duty.covers
    for k, side in enumerate(flow.side):
        if side.when:
            yield ("side", k, "when"), side.when
        for j, task in enumerate(side.tasks):
            if task.when:
                yield ("side", k, "tasks", j, "when"), task.when


def _recurring_sites(loc: Loc, rec: d.RecurringTask) -> Iterator[tuple[Loc, str]]:
    if rec.when:
        yield (*loc, "when"), rec.when
    if rec.task.when:
        yield (*loc, "task", "when"), rec.task.when


def _criteria_sites(loc: Loc, criteria: d.Criteria) -> Iterator[tuple[Loc, str]]:
    for j, item in enumerate(criteria.items):
        if isinstance(item, d.Criterion):
            yield (*loc, criteria.mode, j, "when"), item.when
        else:
            yield from _criteria_sites((*loc, criteria.mode, j), item)
