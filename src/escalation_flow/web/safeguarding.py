"""Which parts of a case are safeguarding records (shown only to whom ``core.access`` allows).

A history event is a safeguarding record when it is about the designated safeguarding lead's
work: a task for that role (created, done or superseded), a state of a stage whose work is
theirs (the plans' child-protection stages), or a manual event of safeguarding (``safeguarding_concern``,
``dsl_...``). Pure: events are the history's dicts (``Decision.to_event()``'s shape).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from escalation_flow.core import definition as d

DSL = d.Role.DESIGNATED_SAFEGUARDING_LEAD.value
_WORDS = ("safeguard", "child_protection", "dsl_", "social_care", "csc_")


def is_safeguarding_name(name: str | None) -> bool:
    return bool(name) and any(w in str(name) for w in _WORDS)


def safeguarding_stages(flow: d.Flow) -> frozenset[int]:
    """Stages with a state whose tasks are all the designated safeguarding lead's (the plans'
    child-protection stages): every state of such a stage is a safeguarding record."""
    return frozenset(
        stage.number
        for stage in flow.definition.stages
        if any(
            state.tasks and all(t.role.value == DSL for t in state.tasks)
            for state in stage.states.values()
        )
    )


def safeguarding_states(flow: d.Flow) -> frozenset[str]:
    """Full names of the states of the safeguarding stages."""
    stages = safeguarding_stages(flow)
    return frozenset(
        stage.full_name(sid)
        for stage in flow.definition.stages
        if stage.number in stages
        for sid in stage.states
    )


def restricted_events(flow: d.Flow, events: Iterable[Mapping[str, Any]]) -> list[bool]:
    """For each event in order, whether it is a safeguarding record."""
    states = safeguarding_states(flow)
    dsl_tasks: set[str] = set()
    out = []
    for e in events:
        kind = e.get("type")
        restricted = False
        if kind == "task_created" and (e.get("role") == DSL or is_safeguarding_name(e.get("task"))):
            dsl_tasks.add(str(e.get("task_key")))
            restricted = True
        elif kind in ("task_completed", "task_superseded"):
            restricted = str(e.get("task_key")) in dsl_tasks
        elif kind == "event_recorded":
            restricted = is_safeguarding_name(e.get("event"))
        elif kind in ("stage_entered", "state_entered", "stage_overridden"):
            restricted = e.get("state") in states
        elif kind in ("timer_armed", "timer_fired", "timer_cancelled"):
            restricted = is_safeguarding_name(e.get("timer"))
        out.append(restricted)
    return out


def is_safeguarding_task(role: str, task: str) -> bool:
    return role == DSL or is_safeguarding_name(task)
