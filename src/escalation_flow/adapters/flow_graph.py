"""Pictures of a flow: Mermaid text, or Graphviz (SVG, PNG) through the ``graphviz`` package.

Both are drawn from the flow's state machine (``core.machine``) so that the picture shows what
the engine runs: stages as clusters (with what brings a case into the stage), states as boxes
(the plan's words, tasks and timers), edges labelled with their trigger and guard.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from dataclasses import dataclass

import graphviz

from escalation_flow.core import definition as d
from escalation_flow.core.machine import machine_for

FORMATS = ("mermaid", "svg", "png", "dot")
_WRAP = 38
_BR = '<br align="left"/>'
_KIND_COLOUR = {
    "timer": "#1f5fa8",
    "event": "#b35900",
    "task": "#222222",
    "daily": "#6b6b6b",
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: str  # timer | event | task | daily


def render(flow: d.Flow, fmt: str) -> bytes:
    """The picture of ``flow`` in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "mermaid":
        return mermaid(flow).encode()
    graph = dot(flow)
    if fmt == "dot":
        return str(graph.source).encode()
    data = graph.pipe(format=fmt)
    assert isinstance(data, bytes)
    return data


# -- the neutral picture ------------------------------------------------------------------------


def edges(flow: d.Flow) -> list[Edge]:
    """One edge per (source, target, trigger): guards of the same trigger and target merged."""
    events = set(flow.event_ids())
    merged: dict[tuple[str, str, str], list[str]] = {}
    kinds: dict[tuple[str, str, str], str] = {}
    anywhere = {(t.trigger, t.to) for t in flow.definition.anywhere}
    for source, trigger, target, entry in machine_for(flow).moves():
        if (trigger, entry.to) in anywhere and entry in flow.definition.anywhere:
            continue  # drawn once, from the "any stage" node
        if entry in flow.state(source).stage.on:
            continue  # drawn once, from the stage's cluster
        key = (source, target, trigger)
        merged.setdefault(key, []).append(_condition_text(flow, source, entry))
        kinds[key] = _trigger_kind(flow, source, trigger, events)
    out = []
    for (source, target, trigger), conditions in merged.items():
        label = _label(trigger, conditions)
        out.append(Edge(source, target, label, kinds[(source, target, trigger)]))
    return out


def stage_edges(flow: d.Flow) -> list[tuple[d.Stage, str, str, str]]:
    """Stage-level moves (tried in every state of the stage): (stage, target, label, kind)."""
    events = set(flow.event_ids())
    out = []
    for stage in flow.definition.stages:
        for entry in stage.on:
            target = flow.resolve(entry.to, stage)
            label = entry.trigger.replace("_", " ")
            if entry.when:
                label += f": {readable(flow, entry.when)}"
            kind = (
                "event"
                if entry.trigger in events
                else "daily"
                if entry.trigger == d.DAILY
                else "task"
            )
            out.append((stage, target, label, kind))
    return out


def _condition_text(flow: d.Flow, source: str, entry: d.Transition) -> str:
    parts = []
    if entry.outcome:
        parts.append(entry.outcome.replace("_", " "))
    if entry.when:
        parts.append(readable(flow, entry.when))
    elif not entry.outcome and _has_guarded_sibling(flow, source, entry):
        parts.append("otherwise")
    return ", ".join(parts)


def _has_guarded_sibling(flow: d.Flow, source: str, entry: d.Transition) -> bool:
    return any(
        t.trigger == entry.trigger and (t.when or t.outcome) and t is not entry
        for t in flow.transitions_from(source)
    )


def _label(trigger: str, conditions: list[str]) -> str:
    text = " | ".join(c for c in conditions if c)
    name = trigger.replace("_", " ")
    return f"{name}: {text}" if text else name


def _trigger_kind(flow: d.Flow, source: str, trigger: str, events: set[str]) -> str:
    if trigger == d.DAILY:
        return "daily"
    if trigger in events:
        return "event"
    ref = flow.state(source)
    timers = {t.id for s in ref.stage.states.values() for t in s.timers}
    return "timer" if trigger in timers else "task"


def readable(flow: d.Flow, expression: str) -> str:
    """A guard with parameters replaced by their values and names shortened."""
    params = flow.definition.parameters

    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        if name in params:
            p = params[name].value
            if isinstance(p, d.TermValues):
                return f"{_num(p.autumn)}/{_num(p.spring)}/{_num(p.summer)} (aut/spr/sum)"
            return _num(p)
        return name

    text = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", value, " ".join(expression.split()))
    for old, new in (
        (" >= ", " ≥ "),
        (" <= ", " ≤ "),
        (" != ", " ≠ "),
        ("attendance_pct", "attendance%"),
        ("_sessions", ""),
        ("_", " "),
    ):
        text = text.replace(old, new)
    return text


def stage_title(stage: d.Stage) -> str:
    if stage.name.lower().startswith("stage"):
        return stage.name
    return f"Stage {stage.number}: {stage.name}"


def _num(value: float) -> str:
    return f"{value:g}"


def _wrap(text: str, width: int = _WRAP, limit: int = 4) -> list[str]:
    lines = textwrap.wrap(" ".join(text.split()), width) or [""]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], lines[limit - 1][: width - 1] + "…"]
    return lines


def _task_line(task: d.Task) -> str:
    what = "Letter" if task.kind is d.TaskKind.LETTER else task.kind.value.capitalize()
    name = task.template if task.template else task.id
    approval = ", approve" if task.approval is d.Approval.REQUIRED else ""
    role = task.role.value.replace("_", " ")
    return f"{what}: {name.replace('_', ' ')} ({role}, {task.due}{approval})"


def _timer_line(timer: d.Timer) -> str:
    return f"Timer {timer.id.replace('_', ' ')}: {timer.describe()} at {timer.at}"


def _entry_lines(flow: d.Flow, stage: d.Stage) -> list[str]:
    if stage.entry is None:
        return ["entered only from another stage", *([f"“{stage.quote}”"] if stage.quote else [])]
    joiner = "any of:" if stage.entry.mode == "any" else "all of:"
    conditions = flow.definition.conditions
    lines = [joiner]
    for c in stage.entry.criteria():
        when = c.when.strip()
        when = conditions[when].when if when in conditions else when  # a bare condition: expand
        lines.append(f"• {readable(flow, when)}")
    return lines


def _node_id(name: str) -> str:
    return name.replace(".", "__")


# -- Graphviz -----------------------------------------------------------------------------------


def dot(flow: d.Flow) -> graphviz.Digraph:
    g = graphviz.Digraph(
        flow.id,
        graph_attr={
            "rankdir": "TB",
            "fontname": "Helvetica",
            "fontsize": "12",
            "nodesep": "0.35",
            "ranksep": "0.45",
            "label": _html_escape(flow.definition.title),
            "labelloc": "t",
            "newrank": "true",
            "compound": "true",
        },
    )
    g.attr(
        "node",
        fontname="Helvetica",
        fontsize="10",
        shape="box",
        style="rounded,filled",
        fillcolor="#ffffff",
    )
    g.attr("edge", fontname="Helvetica", fontsize="9")
    for stage in flow.definition.stages:
        with g.subgraph(name=f"cluster_{stage.key}") as c:
            c.attr(
                label=_html_escape(stage_title(stage)),
                style="rounded,filled",
                fillcolor="#f3f6fa" if stage.number % 2 else "#faf6ef",
                color="#8899aa",
            )
            _dot_stage(flow, stage, c)
    g.node(d.CLOSED, "closed", shape="doublecircle", fillcolor="#e8e8e8", style="filled")
    for edge in edges(flow):
        g.edge(
            _node_id(edge.source),
            _node_id(edge.target),
            label=_edge_text(edge.label),
            color=_KIND_COLOUR[edge.kind],
            fontcolor=_KIND_COLOUR[edge.kind],
            style="dashed" if edge.kind == "daily" else "solid",
        )
    for stage, target, label, kind in stage_edges(flow):
        some_state = _node_id(stage.full_name(next(iter(stage.states))))
        g.edge(
            some_state,
            _node_id(target),
            label=_edge_text(f"in any state: {label}"),
            ltail=f"cluster_{stage.key}",
            color=_KIND_COLOUR[kind],
            fontcolor=_KIND_COLOUR[kind],
        )
    _order_stages(flow, g)
    for k, t in enumerate(flow.definition.anywhere):
        node = f"anywhere_{k}"
        g.node(node, "from any stage\n(or no case)", shape="plaintext", fillcolor="none")
        target = flow.resolve(t.to)
        label = t.trigger.replace("_", " ") + (f": {readable(flow, t.when)}" if t.when else "")
        g.edge(
            node,
            _node_id(target),
            label=_edge_text(label),
            color=_KIND_COLOUR["event"],
            fontcolor=_KIND_COLOUR["event"],
            penwidth="2",
        )
    return g


def _order_stages(flow: d.Flow, g: graphviz.Digraph) -> None:
    """Stage n+1 below every state of stage n: the ladder reads top to bottom."""
    stages = sorted(flow.definition.stages, key=lambda s: s.number)
    for upper, lower in itertools.pairwise(stages):
        sources = [_node_id(upper.full_name(sid)) for sid in upper.states] or [
            f"{upper.key}__entry"
        ]
        for source in sources:
            g.edge(source, f"{lower.key}__entry", style="invis", weight="0")


def _dot_stage(flow: d.Flow, stage: d.Stage, c: graphviz.Digraph) -> None:
    entry_node = f"{stage.key}__entry"
    if stage.universal:
        lines = ["Everyone (no case)"] + [
            f"{u.task.kind.value}: {u.id.replace('_', ' ')} ({u.trigger.replace('_', ' ')}"
            + (f", {readable(flow, u.when)})" if u.when else ")")
            for u in flow.definition.universal
        ]
        c.node(entry_node, _html_lines(lines, bold_first=True), shape="note", fillcolor="#fffbe6")
        return
    c.node(
        entry_node,
        _html_lines(_entry_lines(flow, stage), bold_first=True),
        shape="note",
        fillcolor="#fffbe6",
    )
    for sid, state in stage.states.items():
        c.node(_node_id(stage.full_name(sid)), _state_label(sid, state), shape="box")
    c.edge(
        entry_node,
        _node_id(stage.full_name(stage.default_initial or "")),
        style="dotted",
        arrowhead="open",
        label="opens / escalates" if stage.entry else "",
    )


def _state_label(sid: str, state: d.State) -> str:
    rows = [
        f'<tr><td align="left" balign="left"><b>{_html_escape(sid.replace("_", " "))}</b>'
        f' <font color="#777777">[{state.kind.value}]</font></td></tr>'
    ]
    if state.quote:
        quote = _BR.join(_html_escape(line) for line in _wrap(f"“{state.quote}”"))
        rows.append(f'<tr><td align="left" balign="left"><i>{quote}</i></td></tr>')
    for task in state.tasks:
        rows.append(_row(_task_line(task), "#222222"))
    for rec in state.recurring:
        rows.append(_row(f"Each {rec.trigger}: {rec.task.id.replace('_', ' ')}", "#222222"))
    for timer in state.timers:
        rows.append(_row(_timer_line(timer), _KIND_COLOUR["timer"]))
    return f'<<table border="0" cellborder="0" cellspacing="1">{"".join(rows)}</table>>'


def _row(text: str, colour: str) -> str:
    lines = _BR.join(_html_escape(line) for line in _wrap(text, 46, 3))
    cell = f'<font color="{colour}" point-size="9">{lines}</font>'
    return f'<tr><td align="left" balign="left">{cell}</td></tr>'


def _html_lines(lines: list[str], bold_first: bool = False) -> str:
    out = []
    for i, line in enumerate(lines):
        wrapped = _BR.join(_html_escape(x) for x in _wrap(line, 44, 3))
        out.append(f"<b>{wrapped}</b>" if (bold_first and i == 0) else wrapped)
    return "<" + _BR.join(out) + _BR + ">"


def _edge_text(label: str) -> str:
    return "\n".join(_wrap(label, 30, 3))


def _html_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


# -- Mermaid ------------------------------------------------------------------------------------


def mermaid(flow: d.Flow) -> str:
    lines = ["---", f"title: {flow.definition.title}", "---", "flowchart TD"]
    for stage in flow.definition.stages:
        lines.append(f'  subgraph {stage.key}["{_mm(stage_title(stage))}"]')
        lines.append("    direction TB")
        entry = (
            _entry_lines(flow, stage)
            if not stage.universal
            else ["Everyone (no case)"]
            + [
                f"{u.id.replace('_', ' ')} ({u.trigger.replace('_', ' ')})"
                for u in flow.definition.universal
            ]
        )
        lines.append(f'    {stage.key}__entry[/"{"<br/>".join(_mm(e) for e in entry)}"/]')
        for sid, state in stage.states.items():
            parts = [f"<b>{_mm(sid.replace('_', ' '))}</b> [{state.kind.value}]"]
            if state.quote:
                parts.append(f"<i>“{_mm(' '.join(_wrap(state.quote, 200, 1)))}”</i>")
            parts += [_mm(_task_line(t)) for t in state.tasks]
            parts += [_mm(_timer_line(t)) for t in state.timers]
            lines.append(f'    {_node_id(stage.full_name(sid))}["{"<br/>".join(parts)}"]')
        lines.append("  end")
        for first in () if stage.universal else stage.initial_states:
            lines.append(f"  {stage.key}__entry -.-> {_node_id(stage.full_name(first))}")
    lines.append("  closed((closed))")
    for edge in edges(flow):
        arrow = "-.->" if edge.kind == "daily" else "-->"
        lines.append(
            f'  {_node_id(edge.source)} {arrow}|"{_mm(edge.label)}"| {_node_id(edge.target)}'
        )
    for stage, target, label, _kind in stage_edges(flow):
        lines.append(f'  {stage.key} -->|"in any state: {_mm(label)}"| {_node_id(target)}')
    for k, t in enumerate(flow.definition.anywhere):
        lines.append(f'  anywhere_{k}(["from any stage (or no case)"])')
        label = t.trigger.replace("_", " ")
        lines.append(f'  anywhere_{k} ==>|"{_mm(label)}"| {_node_id(flow.resolve(t.to))}')
    return "\n".join(lines) + "\n"


def _mm(text: str) -> str:
    """Text safe inside a Mermaid quoted label."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", " ")
