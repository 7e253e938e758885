"""Text views of flows for people: the outline ``flows show`` prints, the fact-name table."""

from __future__ import annotations

from escalation_flow.core import definition as d
from escalation_flow.core.fact_names import (
    CASE_FACTS,
    FACT_FAMILIES,
    FAMILY_FACTS,
    REGISTER_FACTS,
    FactSpec,
)


def outline(flow: d.Flow) -> str:
    out: list[str] = [f"{flow.definition.title}", f"  flow {flow.id}, version {flow.version}"]
    definition = flow.definition
    out.append(f"  percentages need {definition.min_possible_sessions} possible sessions")
    if definition.parameters:
        out.append("parameters:")
        for name, p in definition.parameters.items():
            value = p.value
            shown = (
                f"autumn {value.autumn:g}, spring {value.spring:g}, summer {value.summer:g}"
                if isinstance(value, d.TermValues)
                else f"{value:g}"
            )
            out.append(f"  {name} = {shown}")
    if definition.conditions:
        out.append("conditions:")
        out += [f"  {name}: {c.when.strip()}" for name, c in definition.conditions.items()]
    for u in definition.universal:
        out.append(f"universal: {u.id} on {u.trigger}" + (f" when {u.when}" if u.when else ""))
    for t in definition.anywhere:
        out.append(f"anywhere: on {t.trigger} -> {t.to}")
    for side in definition.side:
        tasks = ", ".join(task.id for task in side.tasks)
        when = f" when {side.when}" if side.when else ""
        out.append(f"side: {side.id} on {side.trigger}{when}: task {tasks} (the case stays)")
    for stage in definition.stages:
        out += _stage(stage)
    return "\n".join(out) + "\n"


def _stage(stage: d.Stage) -> list[str]:
    out = [f"stage {stage.number}: {stage.name}" + (" (universal)" if stage.universal else "")]
    if stage.entry is not None:
        out.append(f"  enters when {stage.entry.mode} of:")
        out += [f"    {c.id}: {' '.join(c.when.split())}" for c in stage.entry.criteria()]
    for sid, state in stage.states.items():
        initial = " (initial)" if sid in stage.initial_states else ""
        out.append(f"  state {stage.full_name(sid)} [{state.kind.value}]{initial}")
        for task in state.tasks:
            extra = f" template {task.template}" if task.template else ""
            approval = ", approval required" if task.approval is d.Approval.REQUIRED else ""
            out.append(
                f"    task {task.id}: {task.kind.value}{extra} for {task.role.value}, "
                f"due {task.due}{approval}; outcomes {', '.join(task.outcomes)}"
            )
        for rec in state.recurring:
            out.append(f"    each {rec.trigger}: task {rec.task.id} when {rec.when}")
        for timer in state.timers:
            out.append(f"    timer {timer.id}: after {timer.describe()} at {timer.at}")
        for t in state.on:
            out.append("    " + _move(t))
    for t in stage.on:
        out.append("  any state: " + _move(t))
    return out


def _move(t: d.Transition) -> str:
    text = f"on {t.trigger}"
    if t.outcome:
        text += f" ({t.outcome})"
    if t.when:
        text += f" when {' '.join(t.when.split())}"
    return f"{text} -> {t.to}"


def fact_table() -> str:
    """The fact names as a Markdown table, generated from ``core.fact_names``."""
    rows = ["| fact | unit | meaning |", "| --- | --- | --- |"]
    rows += [_row(f) for f in REGISTER_FACTS.values()]
    rows += [_row(f, case=True) for f in CASE_FACTS.values()]
    rows += [_row(f) for f in FAMILY_FACTS.values()]
    rows += [_row(f) for f in FACT_FAMILIES.values()]
    return "\n".join(rows) + "\n"


def _row(fact: FactSpec, case: bool = False) -> str:
    kind = " (case)" if case else ""
    meaning = fact.description.replace("|", "\\|")
    return f"| `{fact.name}`{kind} | {fact.unit.value} | {meaning} |"
