"""A guard as a sentence: ``attendance_pct < stage_2_below_pct and stage == 3`` reads
"attendance this academic year to date (87.5%) is below 96% (stage 2 below %), and the case is
at stage 3".

The guard is parsed with ``ast`` (the language ``core.guards`` allows: names, numbers,
comparisons, and, or, not, arithmetic, min, max, abs); each fact is named by the catalogue's
words with the value it had, each plan number by its value. Anything the words do not cover
is left to the caller's terser reading (``None``), so a sentence is never wrong.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any

from escalation_flow.core import definition as d
from escalation_flow.core.fact_names import Unit, fact_spec
from escalation_flow.web.filters import humanize

_OPS: dict[type, tuple[str, str]] = {  # (words, words when the left side is a count)
    ast.Lt: ("is below", "is fewer than"),
    ast.LtE: ("is at most", "is at most"),
    ast.Gt: ("is above", "is more than"),
    ast.GtE: ("is at least", "is at least"),
    ast.Eq: ("is", "is"),
    ast.NotEq: ("is not", "is not"),
}
_ARITHMETIC = {ast.Add: "plus", ast.Sub: "minus", ast.Mult: "times", ast.Div: "divided by"}
_RECORDED = "_recorded"


#: How the engine records a step taken because no other transition's guard held
#: (``core.state_moves``): ``otherwise: not (A or B)``, A and B the guards passed over.
OTHERWISE = "otherwise: "


def guard_sentence(flow: d.Flow, guard: str, facts: Mapping[str, Any]) -> str | None:
    """The guard in words, with the values ``facts`` (a decision's reason) held for it; None
    when it uses something the words do not cover."""
    text = " ".join(guard.split())
    try:
        if text.startswith(OTHERWISE):
            return _otherwise(_Words(flow, facts), text.removeprefix(OTHERWISE))
        tree = ast.parse(text, mode="eval").body
        return _Words(flow, facts).say(tree)
    except (SyntaxError, ValueError, KeyError, TypeError):
        return None


def _otherwise(words: _Words, rest: str) -> str:
    """``not (A or B)`` as "none of the plan's other conditions held: A; nor B": each guard
    passed over, in words (an ``or`` inside one of them reads as one more that did not hold,
    which is as true)."""
    tree = ast.parse(rest, mode="eval").body
    if not (isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not)):
        raise ValueError("not an otherwise")
    inner = tree.operand
    either = isinstance(inner, ast.BoolOp) and isinstance(inner.op, ast.Or)
    passed = inner.values if isinstance(inner, ast.BoolOp) and either else [inner]
    said = "; nor ".join(words.passed_over(v) for v in passed)
    return f"none of the plan's other conditions held: {said}"


class _Words:
    def __init__(self, flow: d.Flow, facts: Mapping[str, Any]) -> None:
        self.params = flow.definition.parameters
        self.conditions = flow.definition.conditions
        self.facts = facts

    def passed_over(self, node: ast.expr) -> str:
        """A guard passed over, in words; a named condition of the plan with what it asks
        ("improved (attendance ... is above ...)"): its name alone says too little."""
        if isinstance(node, ast.Name) and node.id in self.conditions:
            when = " ".join(self.conditions[node.id].when.split())
            return f"{humanize(node.id).lower()} ({self.say(ast.parse(when, mode='eval').body)})"
        return self.say(node)

    def say(self, node: ast.expr) -> str:
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            # a group of the other kind inside keeps its brackets: "a or (b and c)"
            parts = [
                f"({self.say(v)})" if isinstance(v, ast.BoolOp) else self.say(v)
                for v in node.values
            ]
            if len(parts) > 2:
                return ", ".join(parts[:-1]) + "," + joiner + parts[-1]
            return joiner.join(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._negated(node.operand)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Name):
            return self._flag(node.id)
        raise ValueError("not a condition")

    # -- conditions ------------------------------------------------------------------------------

    def _compare(self, node: ast.Compare) -> str:
        parts = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(self._pair(left, op, right))
            left = right
        return " and ".join(parts)

    def _pair(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> str:
        if isinstance(left, ast.Name) and isinstance(right, ast.Constant):
            special = self._special(left.id, type(op), right.value)
            if special is not None:
                return special
        words, count_words = _OPS[type(op)]
        counted = isinstance(left, ast.Name) and _unit(left.id) in (Unit.SESSIONS, Unit.SCHOOL_DAYS)
        unit = _unit(left.id) if isinstance(left, ast.Name) else None
        return f"{self._value(left)} {count_words if counted else words} {self._value(right, unit)}"

    def _special(self, name: str, op: type, value: Any) -> str | None:
        if name == "stage" and op is ast.Eq:
            return f"the case is at stage {value:g}" if isinstance(value, float) else (
                f"the case is at stage {value}"
            )
        if name.endswith(_RECORDED) and value in (0, 1):
            what = humanize(name.removesuffix(_RECORDED)).lower()
            if (op is ast.GtE and value == 1) or (op is ast.Gt and value == 0):
                return f"{what} has been recorded{self._seen(name)}"
            if op is ast.Eq and value == 0:
                return f"{what} has not been recorded"
        return None

    def _negated(self, node: ast.expr) -> str:
        if isinstance(node, ast.Name):
            return self._flag(node.id, negated=True)
        return f"not ({self.say(node)})"

    def _flag(self, name: str, *, negated: bool = False) -> str:
        spec = fact_spec(name)
        if spec is not None and spec.unit is Unit.FLAG:
            what = _described(spec.description.removeprefix("1 when "))
            value = self.facts.get(name)
            shown = "" if value is None else f" ({'yes' if value else 'no'})"
            return f"{'it is not so that ' if negated else ''}{what}{shown}"
        what = humanize(name).lower()
        return f"{what} does not hold" if negated else what

    # -- values ----------------------------------------------------------------------------------

    def _value(self, node: ast.expr, unit: Unit | None = None) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return _number(float(node.value), unit)
        if isinstance(node, ast.Name):
            return self._name(node.id, unit)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"minus {self._value(node.operand, unit)}"
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            op = _ARITHMETIC[type(node.op)]
            return f"{self._value(node.left, unit)} {op} {self._value(node.right, unit)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [self._value(a, unit) for a in node.args]
            if node.func.id == "abs" and len(args) == 1:
                return f"the size of {args[0]}"
            which = {"min": "the lower", "max": "the higher"}[node.func.id]
            return f"{which} of {' and '.join(args)}"
        raise ValueError("not a value")

    def _name(self, name: str, unit: Unit | None) -> str:
        if name in self.params:
            value = self.facts.get(name, self.params[name].value)
            if isinstance(value, int | float):
                return f"{_number(float(value), unit)} ({humanize(name).lower()})"
            return humanize(name).lower()
        spec = fact_spec(name)
        what = _described(spec.description) if spec else humanize(name).lower()
        if name in self.facts:
            return f"{what} ({_number(self.facts[name], _unit(name))})"
        return what

    def _seen(self, name: str) -> str:
        value = self.facts.get(name)
        if isinstance(value, int | float) and not math.isnan(float(value)) and value > 1:
            return f" ({int(value)} times)"
        return ""


def _unit(name: str) -> Unit | None:
    spec = fact_spec(name)
    return spec.unit if spec else None


def _described(description: str) -> str:
    """A catalogue description as a noun phrase: its first clause, without asides."""
    return re.sub(r" \([^)]*\)", "", description).split("; ")[0]


def _number(value: Any, unit: Unit | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not known yet"
    if not isinstance(value, int | float):
        return str(value)
    number = float(value)
    text = str(int(number)) if number.is_integer() else f"{number:.1f}"
    if unit is Unit.PERCENT:
        return f"{number:.1f}%".replace(".0%", "%")
    if unit is Unit.PERCENTAGE_POINTS:
        return f"{number:+.1f} points" if number else "0 points"
    if unit in (Unit.SESSIONS, Unit.SCHOOL_DAYS):
        assert unit is not None
        return f"{text} {unit.value[:-1] if number == 1 else unit.value}"
    return text
