"""Flow files: YAML -> ``FlowDefinition`` -> checks -> ``Flow``, every problem with its line.

Three rounds, each reporting everything it finds: YAML traps (times and yes/no words that a
YAML 1.1 tool would read as numbers or booleans), the schema (unknown keys, wrong types), then the
checks of ``core.checks`` (names, graph, timers, bands, approvals). A later round runs only when
the earlier ones pass, because it needs what they produce.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import ScalarString

from escalation_flow.adapters.yaml_source import decode_utf8, line_of, to_plain
from escalation_flow.core import definition as d
from escalation_flow.core.checks import Loc, compile_flow, loc_text
from escalation_flow.errors import FlowError, Problem

#: Keys whose values are times of day: they must be quoted strings.
TIME_KEYS = frozenset({"at"})
#: Plain words a YAML 1.1 tool reads as booleans (YAML 1.2, which we read, keeps them text).
YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})
_ALL_KEYS = sorted(
    {
        name
        for model in vars(d).values()
        if isinstance(model, type) and issubclass(model, BaseModel)
        for name in model.model_fields
    }
)
#: Where each part of a flow is written, to name where a misplaced key belongs.
_PLACES: dict[type[BaseModel], str] = {
    d.FlowDefinition: "the top level of the file",
    d.Stage: "a stage (an item of stages:)",
    d.State: "a state (stages[number=N].states.<state>)",
    d.Task: "a task (an item of a state's tasks:)",
    d.Timer: "a timer (an item of a state's timers:)",
    d.Transition: "an on entry (an item of on:)",
    d.RecurringTask: "a recurring task (an item of recurring: or universal:)",
    d.Criterion: "an entry criterion (an item of entry.any or entry.all)",
    d.Event: "an event (an item of events:)",
    d.Parameter: "a parameter (under parameters:)",
    d.Condition: "a condition (under conditions:)",
    d.Duration: "a duration (after:, due:, lapses_after:)",
    d.Departure: "a departure (an item of departures:)",
}
#: How many YAML nodes aliases (``*name``) may add by repeating what they name: enough for a
#: shared list or two, far too few for a "billion laughs" file, which is refused at once.
MAX_ALIAS_EXPANSION = 1000


def load_flow(path: Path) -> d.Flow:
    """Load, validate and check one flow file; raise ``FlowError`` with every problem.

    The same bytes under the same name give the same flow, so a process parses each version of
    a file once: the daemon's evenings, the timers and the pages read every school's flow
    afresh, and parsing with line numbers kept is most of the cost (about 0.2 s a file).
    """
    _, digest, text = _read_text(path)
    return _compiled(str(path), digest, text)


@functools.lru_cache(maxsize=64)
def _compiled(name: str, digest: str, text: str) -> d.Flow:
    data = _parse(text, name)
    if not isinstance(data, CommentedMap):
        raise FlowError(f"{name} is not a flow", [Problem(name, 1, None, "expected a mapping")])
    expansion = alias_expansion(data, MAX_ALIAS_EXPANSION)
    if expansion > MAX_ALIAS_EXPANSION:
        message = (
            f"YAML aliases (*name) repeat more than {MAX_ALIAS_EXPANSION} nodes: write the "
            "values out (a file that expands without end is refused)"
        )
        raise FlowError(f"{name} expands too far", [Problem(name, None, None, message)])
    problems: list[Problem] = []
    _walk_traps(data, (), name, problems, data)
    try:
        definition = d.FlowDefinition.model_validate(to_plain(data))
    except ValidationError as exc:
        trapped = {(p.line, p.field) for p in problems}
        schema = [_schema_problem(name, data, e) for e in exc.errors()]
        problems += [p for p in schema if (p.line, p.field) not in trapped]
        raise FlowError(f"flow {name} has {len(problems)} problem(s)", problems) from None
    if problems:
        raise FlowError(f"flow {name} has {len(problems)} problem(s)", problems)
    flow, issues = compile_flow(definition, digest, name)
    if flow is None:
        problems = [
            Problem(name, locate(data, i.loc), plan_path(data, i.loc), i.message) for i in issues
        ]
        raise FlowError(f"flow {name} has {len(problems)} problem(s)", problems)
    return dataclasses.replace(flow, text=text)


def _read_text(path: Path) -> tuple[bytes, str, str]:
    """The file's bytes, their sha256 and its text (UTF-8, a YAML 1.1 directive refused)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowError(f"cannot read {path}: {exc.strerror}") from exc
    text = decode_utf8(raw, path, FlowError)
    if text.lstrip().startswith("%YAML 1.1"):
        problem = Problem(
            str(path), 1, None, "YAML 1.1 turns 'off' into false; drop the %YAML line"
        )
        raise FlowError(f"{path} declares YAML 1.1", [problem])
    return raw, hashlib.sha256(raw).hexdigest(), text


def _parse(text: str, name: str) -> Any:
    """The file's nodes, parsed once with quotes kept (to spot YAML traps).

    Like ``yaml_source.read_yaml`` (YAML 1.2, line numbers), which does not keep quotes.
    """
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.preserve_quotes = True
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = Problem(name, line, None, str(exc.problem))
        raise FlowError(f"{name} is not valid YAML", [problem]) from exc


def load_flows(paths: Sequence[Path]) -> list[d.Flow]:
    """Load several flow files; every problem of every file is reported together."""
    flows: list[d.Flow] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            flows.append(load_flow(path))
        except FlowError as exc:
            problems.extend(exc.problems)
    if problems:
        raise FlowError(f"{len(problems)} problem(s) in flow files", problems)
    return flows


def flow_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


# -- locating -----------------------------------------------------------------------------------


def locate(root: Any, loc: Iterable[str | int]) -> int | None:
    """The line of the deepest node along ``loc`` that the file has."""
    node, line = root, line_of(root)
    for part in loc:
        in_map = isinstance(node, CommentedMap) and part in node
        in_seq = isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node)
        if in_map or in_seq:
            line, node = line_of(node, part) or line, node[part]
    return line


def plan_path(root: Any, loc: Loc) -> str:
    """``loc`` as text, naming a stage by the plan's number (``stages[number=3]``)."""
    stages = root.get("stages") if isinstance(root, CommentedMap) else None
    numbers: dict[int, object] = {}
    if isinstance(stages, CommentedSeq):
        for i, stage in enumerate(stages):
            number = stage.get("number") if isinstance(stage, CommentedMap) else None
            if isinstance(number, int) and not isinstance(number, bool):
                numbers[i] = number
    return loc_text(loc, numbers)


def alias_expansion(root: Any, limit: int) -> int:
    """How many nodes YAML aliases add to ``root`` by repeating what they name (counting stops
    soon after ``limit``; an alias inside what it names counts as past the limit)."""
    sizes: dict[int, int] = {}
    seen: set[int] = set()
    extra = 0

    def size(node: Any) -> int:
        nonlocal extra
        if not isinstance(node, CommentedMap | CommentedSeq):
            return 1
        key = id(node)
        if key in sizes:
            extra += sizes[key]
            return sizes[key]
        if key in seen:
            extra = limit + 1  # a node that holds itself
            return 1
        seen.add(key)
        children = node.values() if isinstance(node, CommentedMap) else node
        total = 1
        for child in children:
            total += size(child)
            if extra > limit:
                break
        sizes[key] = total
        return total

    size(root)
    return extra


def _misplaced(key: str) -> str | None:
    """Where ``key`` belongs, when it is a key of some other part of a flow."""
    places = [place for model, place in _PLACES.items() if key in model.model_fields]
    if not places:
        return None
    return f"{key!r} does not go here: it is a key of {' or of '.join(places)}"


def _schema_problem(name: str, root: Any, error: ErrorDetails) -> Problem:
    loc = _clean_loc(error["loc"])
    value = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        close = difflib.get_close_matches(key, _ALL_KEYS, n=1)
        misplaced = _misplaced(key)
        if misplaced is not None:
            message = misplaced
        else:
            message = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
    elif kind == "missing":
        message = "required, missing"
    elif kind == "string_type" and isinstance(value, bool):
        message = f"{str(value).lower()} is a boolean here, but text is expected: quote it"
    elif kind == "string_type" and isinstance(value, int | float) and loc and loc[-1] in TIME_KEYS:
        message = f'{value} is a number: write the time of day quoted, like "08:00"'
    elif kind == "string_pattern_mismatch":
        message = f"{value!r} is not a valid id: use lower_case letters, digits and _"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return Problem(name, locate(root, loc), plan_path(root, loc) or None, message)


def _clean_loc(loc: tuple[str | int, ...]) -> Loc:
    """Drop pydantic's union tags ('criterion', 'group', 'float', ...) from a location."""
    tags = {"criterion", "group", "float", "TermValues", "function-after[_shape(), Task]"}
    return tuple(p for p in loc if not (isinstance(p, str) and (p in tags or "[" in p)))


# -- YAML traps ---------------------------------------------------------------------------------


def _walk_traps(node: Any, loc: Loc, name: str, problems: list[Problem], root: Any) -> None:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            here = (*loc, str(key))
            if str(key) in TIME_KEYS and not isinstance(value, ScalarString):
                problems.append(
                    Problem(name, line_of(node, key), plan_path(root, here), _time_trap(value))
                )
            else:
                _walk_traps(value, here, name, problems, root)
                _check_word(node, key, value, here, name, problems, root)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            _walk_traps(value, (*loc, i), name, problems, root)
            _check_word(node, i, value, (*loc, i), name, problems, root)


def _time_trap(value: Any) -> str:
    if isinstance(value, str):
        return f'write the time quoted, "{value}": unquoted, a YAML 1.1 tool reads it as a number'
    return f'{value!r} is not a time of day: write it quoted, like "08:00"'


def _check_word(
    parent: Any, key: Any, value: Any, loc: Loc, name: str, problems: list[Problem], root: Any
) -> None:
    plain = isinstance(value, str) and not isinstance(value, ScalarString)
    if plain and value.lower() in YAML11_BOOLEANS:
        message = f"write {value!r} quoted: a YAML 1.1 tool reads it as a boolean"
        problems.append(Problem(name, line_of(parent, key), plan_path(root, loc), message))
    if isinstance(value, float) and not math.isfinite(value):
        message = f"{value} is not a number a plan can use: write a finite number"
        problems.append(Problem(name, line_of(parent, key), plan_path(root, loc), message))
