"""The graph of a flow's states, checked (``core.checks`` runs it with the rest): states no case
can reach (from a stage's entry, any of its first states, or an ``anywhere`` move), and states
from which a case can never reach ``closed`` (an ``anywhere`` move alone does not count). A
tier's step down (``step_down_on``) is an edge to every lower stage with an entry, and closed.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Mapping

from escalation_flow.core import definition as d

Loc = tuple[str | int, ...]



def _edges(flow: d.FlowDefinition, *, anywhere: bool = True) -> dict[str, set[str]]:
    refs = d.state_refs(flow)
    edges: dict[str, set[str]] = {name: set() for name in refs}
    for name, ref in refs.items():
        for t in ref.state.on + ref.stage.on + (flow.anywhere if anywhere else ()):
            try:
                targets = d.resolve_targets(flow, t.to, ref.stage)
            except KeyError:
                continue
            edges[name].update(x for x in targets if x != name)
        edges[name].update(d.step_down_targets(flow, ref.stage))
    return edges


def graph_problems(flow: d.FlowDefinition) -> list[tuple[Loc, str]]:
    """States no case can reach, and states from which a case can never close."""
    found: list[tuple[Loc, str]] = []
    edges = _edges(flow)
    starts = [
        s.full_name(i) for s in flow.stages if s.entry for i in s.initial_states if i in s.states
    ]
    for t in flow.anywhere:
        with contextlib.suppress(KeyError):
            starts += d.resolve_targets(flow, t.to, None)
    if not any(s.entry for s in flow.stages):
        found.append((("stages",), "no stage has entry criteria: no case can ever open"))
    reachable = _walk(starts, edges)
    # a state is stuck if only an ``anywhere`` move (a safeguarding concern) could ever end it
    own = _edges(flow, anywhere=False)
    reverse: dict[str, set[str]] = {d.CLOSED: set()}
    for source, targets in own.items():
        for target in targets:
            reverse.setdefault(target, set()).add(source)
    can_close = _walk([d.CLOSED], reverse)
    for i, stage in enumerate(flow.stages):
        for sid in stage.states:
            name = stage.full_name(sid)
            loc: Loc = ("stages", i, "states", sid)
            if name not in reachable:
                message = f"state {name} is unreachable: no stage entry or transition leads to it"
                found.append((loc, message))
            if not own[name]:
                found.append((loc, f"state {name} is stuck: no transition leads out of it"))
            elif name not in can_close:
                found.append((loc, f"state {name} is stuck: no path from it ever reaches closed"))
    return found


def _walk(starts: list[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
