"""A guard's scalar form: the same expression written out as one Python function of one case.

``core.guards`` compiles a guard to a tree of closures that serves scalars (one case) and numpy
arrays (every pupil at once) alike. One case's question ("does this transition's guard hold for
this pupil?") is asked hundreds of thousands of times in a year's backtest, and walking the tree
(a call per node, a type test per value) was most of its price. This module writes the same
guard out once, as the source of a single function over floats, and compiles that.

It gives the tree's answer exactly, by doing what the tree does in the same order:

- names are read from the environment in the tree's order, and only where the tree reads them
  (``and`` stops at the first false part, ``or`` at the first true one; a chained comparison's
  middle operand is read once for each link), so a lazily computed name is computed at the
  same moment and an unknown name raises the same ``KeyError``;
- Kleene logic on 1.0, 0.0 and NaN, ``x/0`` unknown, ``min``/``max`` unknown when any argument
  is, as ``core.guards`` defines them.

When a name's value is an array (a guard called over many pupils), the function raises
``NotScalarError`` and the caller falls back on the tree, which answers for arrays.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

NAN = float("nan")

Env = Mapping[str, Any]
Scalar = Callable[[Env], float]

_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
}


class NotScalarError(Exception):
    """A name's value is an array: the scalar form does not answer (the tree does)."""


def _number(value: Any) -> float:
    """A value read from the environment as the tree's lookup takes it (not already a float)."""
    if isinstance(value, np.ndarray):
        raise NotScalarError
    return float(value)


def scalar_form(tree: ast.expr, conditions: Mapping[str, Scalar]) -> Scalar | None:
    """The scalar function of an expression the guard compiler accepted (``conditions``: the
    named conditions' own scalar functions, each giving a truth value). None if the expression
    is too deep to write out (the tree still answers)."""
    writer = _Writer(conditions)
    try:
        result, truth_valued = writer.value(tree, 1)
        writer.line(f"return {result if truth_valued else _truth(result)}", 1)
        source = "def scalar(env):\n" + "\n".join(writer.lines) + "\n"
        exec(compile(source, "<guard>", "exec"), writer.scope)  # our own text, no user code
    except (RecursionError, SyntaxError, MemoryError):
        return None
    function: Scalar = writer.scope["scalar"]
    return function


def _truth(var: str) -> str:
    """The expression of ``var``'s truth value (``guards.truth``): NaN, 0.0 or 1.0."""
    return f"(NAN if {var} != {var} else (1.0 if {var} != 0.0 else 0.0))"


class _Writer:
    """Writes an expression as statements, one temporary per node: each ``value`` returns the
    temporary that holds the node's value and whether it is already a truth value."""

    def __init__(self, conditions: Mapping[str, Scalar]) -> None:
        self.conditions = conditions
        self.lines: list[str] = []
        self.scope: dict[str, Any] = {"NAN": NAN, "_number": _number}
        self._count = 0

    def temp(self) -> str:
        self._count += 1
        return f"v{self._count}"

    def line(self, text: str, depth: int) -> None:
        self.lines.append("    " * depth + text)

    def bind(self, value: Any) -> str:
        """A name in the function's scope for ``value`` (a constant or a condition)."""
        name = f"k{self._count}_{len(self.scope)}"
        self.scope[name] = value
        return name

    def value(self, node: ast.expr, depth: int) -> tuple[str, bool]:
        if isinstance(node, ast.Name):
            return self.name(node.id, depth)
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)  # the compiler refused anything else
            out = self.temp()
            self.line(f"{out} = {self.bind(float(node.value))}", depth)
            return out, False
        if isinstance(node, ast.BoolOp):
            parts = [_part(self, v) for v in node.values]
            return self.logic(isinstance(node.op, ast.And), parts, depth), True
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise SyntaxError(f"not a guard node: {type(node).__name__}")

    def name(self, name: str, depth: int) -> tuple[str, bool]:
        out = self.temp()
        if name in self.conditions:
            self.line(f"{out} = {self.bind(self.conditions[name])}(env)", depth)
            return out, True
        self.line(f"{out} = env[{name!r}]", depth)
        self.line(f"if {out}.__class__ is not float: {out} = _number({out})", depth)
        return out, False

    def logic(self, conjunction: bool, parts: list[_Part], depth: int) -> str:
        """``and`` (``conjunction``) or ``or`` over ``parts``, stopping where the tree stops."""
        out = self.temp()
        stop = "0.0" if conjunction else "1.0"
        self.line(f"{out} = {'1.0' if conjunction else '0.0'}", depth)
        for part in parts:
            var, truth_valued = part(depth)
            if not truth_valued:
                self.line(f"{var} = {_truth(var)}", depth)
            self.line(f"if {var} == {stop}:", depth)
            self.line(f"{out} = {stop}", depth + 1)
            self.line("else:", depth)
            depth += 1
            self.line(f"if {var} != {var}: {out} = NAN", depth)
        return out

    def unary(self, node: ast.UnaryOp, depth: int) -> tuple[str, bool]:
        inner, truth_valued = self.value(node.operand, depth)
        if isinstance(node.op, ast.UAdd):
            return inner, truth_valued
        out = self.temp()
        if isinstance(node.op, ast.Not):
            self.line(f"{out} = 1.0 - {inner if truth_valued else _truth(inner)}", depth)
            return out, True
        if isinstance(node.op, ast.USub):
            self.line(f"{out} = -{inner}", depth)
            return out, False
        raise SyntaxError("operator ~")

    def compare(self, node: ast.Compare, depth: int) -> tuple[str, bool]:
        operands = [node.left, *node.comparators]
        links = [
            _link(self, _SYMBOLS[type(op)], operands[i], operands[i + 1])
            for i, op in enumerate(node.ops)
        ]
        if len(links) == 1:
            return links[0](depth)
        return self.logic(True, links, depth), True

    def binop(self, node: ast.BinOp, depth: int) -> tuple[str, bool]:
        left, _ = self.value(node.left, depth)
        right, _ = self.value(node.right, depth)
        out = self.temp()
        if isinstance(node.op, ast.Div):
            self.line(f"{out} = {left} / {right} if {right} != 0.0 else NAN", depth)
        else:
            self.line(f"{out} = {left} {_SYMBOLS[type(node.op)]} {right}", depth)
        return out, False

    def call(self, node: ast.Call, depth: int) -> tuple[str, bool]:
        assert isinstance(node.func, ast.Name)
        args = [self.value(a, depth)[0] for a in node.args]
        out = self.temp()
        if node.func.id == "abs":
            self.line(f"{out} = abs({args[0]})", depth)
            return out, False
        unknown = " or ".join(f"{a} != {a}" for a in args)
        self.line(f"{out} = NAN if {unknown} else {node.func.id}({', '.join(args)})", depth)
        return out, False


_Part = Callable[[int], tuple[str, bool]]


def _part(writer: _Writer, node: ast.expr) -> _Part:
    return lambda depth: writer.value(node, depth)


def _link(writer: _Writer, symbol: str, left: ast.expr, right: ast.expr) -> _Part:
    """One link of a comparison: both operands read (each time, as the tree reads them)."""

    def write(depth: int) -> tuple[str, bool]:
        a, _ = writer.value(left, depth)
        b, _ = writer.value(right, depth)
        out = writer.temp()
        unknown = f"{a} != {a} or {b} != {b}"
        writer.line(f"{out} = NAN if {unknown} else (1.0 if {a} {symbol} {b} else 0.0)", depth)
        return out, True

    return write
