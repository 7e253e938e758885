"""A school's plan in the pages' words: stage names, a task's definition, the chart's thresholds.

Pure: everything is read from the ``Flow`` (a school's overrides are written into its flow).
"""

from __future__ import annotations

import re

from escalation_flow.adapters.flow_graph import stage_title
from escalation_flow.core import definition as d
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.statutory import STATUTORY_TASKS
from escalation_flow.web.chart import Threshold

_PCT_BOUND = re.compile(r"\battendance_pct\s*(<=|<)\s*([A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?)")


def stage_name(flow: d.Flow, number: int) -> str:
    if number <= 0:
        return "No open case"
    try:
        return stage_title(flow.stage(number))
    except KeyError:
        return f"Stage {number}"


def task_definition(flow: d.Flow, task_id: str) -> d.Task | None:
    """The flow's definition of a task id (states, recurring and universal tasks), or a
    statutory task's."""
    for stage in flow.definition.stages:
        for state in stage.states.values():
            for task in state.tasks:
                if task.id == task_id:
                    return task
            for recurring in state.recurring:
                if recurring.task.id == task_id:
                    return recurring.task
    for universal in flow.definition.universal:
        if universal.task.id == task_id:
            return universal.task
    for side in flow.definition.side:
        for task in side.tasks:
            if task.id == task_id:
                return task
    return STATUTORY_TASKS.get(task_id)  # the law's, whatever the flow (``core.statutory``)


def term_name(calendar: SchoolCalendar, index: int) -> str:
    return str(calendar.term_name_of(max(index, 0)).value)


def thresholds(flow: d.Flow, term: str) -> list[Threshold]:
    """The year-to-date attendance levels at which the plan's stages start, for the chart."""
    params = flow.parameter_values(term)
    found: dict[float, list[str]] = {}
    for stage in sorted(flow.escalating_stages, key=lambda s: s.number):
        assert stage.entry is not None
        for criterion in stage.entry.criteria():
            text = criterion.when
            text = (
                flow.definition.conditions[text].when
                if text in flow.definition.conditions
                else text
            )
            for _, bound in _PCT_BOUND.findall(text):
                value = params.get(bound) if bound in params else _float(bound)
                if value is not None and 0 < value <= 100:
                    found.setdefault(value, []).append(f"Stage {stage.number}")
    out = [
        Threshold(f"{' / '.join(dict.fromkeys(labels))} below {value:g}%", value)
        for value, labels in sorted(found.items(), reverse=True)
    ]
    if 90.0 not in found:
        out.append(Threshold("Persistent absence 90%", 90.0))
    return out


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
