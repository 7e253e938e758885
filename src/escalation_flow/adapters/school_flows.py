"""A school's flow: its flow file with the trust file's overrides for that school written in.

A school may set some of its plan's numbers differently (``overrides:`` in the trust file: a
parameter's value, per term or one number, or ``min_possible_sessions``). They are written into
the flow's text before it is loaded, so the text a decision was taken under is exactly what
``flow_versions`` keeps and replay re-runs: a school with overrides has a flow version of its
own, and changing an override is a new version like any change of the plan (open cases stay
on theirs until a recorded migration). A school without overrides runs its flow file as it is.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.trust_files import Override, Trust
from escalation_flow.core.definition import Flow
from escalation_flow.errors import FlowError, Problem, TrustConfigError

#: an override that is not a parameter of the plan
TOP_LEVEL = frozenset({"min_possible_sessions"})


def school_flow(trust: Trust, school: str) -> Flow:
    """The flow ``school`` runs: its file, with its overrides written in (checked like a file)."""
    config = trust.school(school)
    if not config.overrides:
        return load_flow(config.flow_path)
    plain = load_flow(config.flow_path)  # the file itself must pass every check first
    where = Problem(str(trust.path), None, f"schools.{config.id}.overrides", "")
    text = _with_overrides(config.flow_path, plain, config.overrides, where)
    flow = _load_text(text, config.flow_path.name, where)
    return dataclasses.replace(flow, path=f"{config.flow_path} with {config.id}'s overrides")


def _with_overrides(path: Path, flow: Flow, overrides: dict[str, Override], where: Problem) -> str:
    unknown = sorted(set(overrides) - set(flow.definition.parameters) - TOP_LEVEL)
    if unknown:
        known = ", ".join([*sorted(flow.definition.parameters), *sorted(TOP_LEVEL)])
        raise TrustConfigError(
            f"{where.file}: {where.field}: flow {flow.id} has no such parameter",
            [
                dataclasses.replace(where, message=f"{n}: not a parameter of it (it has: {known})")
                for n in unknown
            ],
        )
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the plan's quotes
    data = yaml.load(path.read_text(encoding="utf-8"))
    assert isinstance(data, CommentedMap)
    for name, value in sorted(overrides.items()):
        if name in TOP_LEVEL:
            data[name] = value
        else:
            data["parameters"][name]["value"] = _value(value)
    out = io.StringIO()
    yaml.dump(data, out)
    listed = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    head = f"# {path.name} with {where.file}'s {where.field}: {listed}"
    return f"{head}\n{out.getvalue()}"


def _value(value: Override) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _load_text(text: str, name: str, where: Problem) -> Flow:
    with tempfile.TemporaryDirectory(prefix="escalation-flow-") as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        try:
            return load_flow(path)
        except FlowError as exc:
            found = [f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems]
            problems = [dataclasses.replace(where, message=m) for m in found or [exc.summary]]
            raise TrustConfigError(
                f"{where.file}: {where.field} do not fit the flow", problems
            ) from exc
