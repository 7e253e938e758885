"""What ``flows check`` knows of the counters built from a flow's own ids and parameters:
``<measure>_since_<event or task>`` (``core.since_recorded``) and
``<measure>_last_<N>_school_<weeks|days>`` (``core.window_facts``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from escalation_flow.core import definition as d
from escalation_flow.core.guards import Guard
from escalation_flow.core.since_recorded import CASE_ANCHORS, since_recorded_names
from escalation_flow.core.window_facts import length_problem, parse_window, window_names

Loc = tuple[str | int, ...]
TERMS = ("autumn", "spring", "summer")


def _ids(flow: d.FlowDefinition) -> Iterator[tuple[Loc, str]]:
    for j, event in enumerate(flow.events):
        yield ("events", j, "id"), event.id
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            for k, task in enumerate(state.tasks):
                yield ("stages", i, "states", sid, "tasks", k, "id"), task.id
            for k, rec in enumerate(state.recurring):
                yield ("stages", i, "states", sid, "recurring", k, "task", "id"), rec.task.id
    for k, rec in enumerate(flow.universal):
        yield ("universal", k, "task", "id"), rec.task.id


def counter_names(flow: d.FlowDefinition) -> set[str]:
    """The counter names this flow's guards may use, besides the catalogue's facts."""
    ids = {name for _, name in _ids(flow)}
    return since_recorded_names(ids) | window_names(flow.parameters)


def reserved_id_problems(flow: d.FlowDefinition) -> list[tuple[Loc, str]]:
    """An event or task may not be called ``state_entry``, ``stage_entry`` or ``case_opened``."""
    return [
        (loc, f"id {name!r} is reserved: <measure>_since_{name} counts from the case itself")
        for loc, name in _ids(flow)
        if name in CASE_ANCHORS
    ]


def window_parameter_problems(
    flow: d.FlowDefinition, sites: Iterable[tuple[Loc, Guard | None]]
) -> list[tuple[Loc, str]]:
    """A window whose length is a parameter: every term's value of it is such a length."""
    out = []
    for loc, guard in sites:
        for name in sorted(guard.names if guard else ()):
            window = parse_window(name)
            if window is None or window.parameter is None:
                continue
            parameter = flow.parameters[window.parameter]
            problem = length_problem(window, [parameter.for_term(t) for t in TERMS])
            if problem:
                out.append((loc, problem))
    return out
