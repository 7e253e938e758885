"""Guard expressions: a small allow-listed language compiled to closures, never ``eval``.

A guard is text such as ``"attendance_pct < stage_2_below_pct and possible_sessions >= 30"``.
It is parsed with ``ast`` and every node is checked against the allow-list: names, int and float
literals, comparisons (``< <= > >= == !=``, chained), ``and``, ``or``, ``not``, ``+ - * /``,
unary minus, parentheses and calls of ``min``, ``max`` and ``abs``. Anything else is refused with
a message that says what is allowed.

Guards are three-valued (Kleene): a value is true (1.0), false (0.0) or unknown (NaN). A fact that
is unknown (a percentage below its minimum number of sessions) makes a comparison unknown;
``false and unknown`` is false, ``true or unknown`` is true, ``not unknown`` is unknown. A guard
that ends unknown does not fire: ``holds`` is true only for 1.0.

The same compiled guard runs on scalars (one case) and on numpy float arrays (every pupil of a
school at once); scalars and arrays mix by broadcasting. Results are floats or float arrays.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from escalation_flow.core.guard_scalars import NotScalarError, Scalar, scalar_form

Array = npt.NDArray[np.float64]
Value = float | Array
Env = Mapping[str, Any]  # name -> float, int, bool or a numpy array
Node = Callable[[Env], Value]

NAN = float("nan")
FUNCTIONS = ("min", "max", "abs")
ALLOWED = (
    "names, numbers, comparisons (< <= > >= == !=), and, or, not, + - * /, "
    "parentheses, min(), max(), abs()"
)

PERCENT_SIGN = (
    "a % sign is not allowed in a guard: percentages are plain numbers (write "
    "attendance_pct < 90, not attendance_pct < 90%), and % is not an operator either"
)

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITH: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_REFUSED_OPERATORS = {
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
}
_REFUSED_COMPARE = {ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_REFUSED_NODES = {
    ast.Attribute: "attribute access (.)",
    ast.Subscript: "indexing ([...])",
    ast.Lambda: "lambda",
    ast.IfExp: "if ... else",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "unpacking (*)",
    ast.JoinedStr: "an f-string",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class GuardError(ValueError):
    """A guard expression is refused; ``problems`` lists every reason, each one sentence."""

    def __init__(self, source: str, problems: list[str], unknown: list[str] | None = None) -> None:
        self.source = source
        self.problems = problems
        self.unknown = unknown or []  # the unknown names among the problems, for suggestions
        super().__init__(f"guard {source!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class Guard:
    """A compiled guard. Call it with an environment of names to values."""

    source: str
    #: Every name it reads (facts, parameters, ``*_recorded``), through named conditions too.
    names: frozenset[str]
    #: Named conditions it uses, directly or through other conditions.
    conditions: frozenset[str]
    _fn: Node = field(repr=False, compare=False)
    #: the same guard written out for one case (``core.guard_scalars``); None: the tree only
    _scalar: Scalar | None = field(default=None, repr=False, compare=False)

    def __call__(self, env: Env) -> Value:
        """1.0 (true), 0.0 (false) or NaN (unknown); arrays element-wise."""
        fn = self._fn
        return fn(env) if _is_truth_valued(fn) else truth(fn(env))

    def scalar(self, env: Env) -> float:
        """The truth value for one case; ``NotScalarError`` if a name's value is an array."""
        if self._scalar is not None:
            return self._scalar(env)
        value = self(env)
        if isinstance(value, np.ndarray):
            raise NotScalarError
        return value

    def holds(self, env: Env) -> bool:
        """True only when the guard is definitely true (scalar environments)."""
        if self._scalar is not None:
            try:
                return self._scalar(env) == 1.0
            except NotScalarError:
                pass  # an array among the values: the tree answers (and refuses, below)
        value = self(env)
        if isinstance(value, np.ndarray):
            raise TypeError(f"guard {self.source!r}: holds() on arrays; use mask()")
        return value == 1.0

    def mask(self, env: Env) -> npt.NDArray[np.bool_]:
        """Element-wise ``holds`` (works for scalars too, as a 0-d array)."""
        result: npt.NDArray[np.bool_] = np.asarray(self(env)) == 1.0
        return result


def compile_guard(
    source: str, names: Container[str], conditions: Mapping[str, Guard] | None = None
) -> Guard:
    """Compile ``source``; ``names`` are the names it may read, ``conditions`` named guards.

    Raises ``GuardError`` with every problem found (refused forms and unknown names together).
    """
    conditions = conditions or {}
    if "%" in source:
        raise GuardError(source, [PERCENT_SIGN])
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        column = f" at column {exc.offset}" if exc.offset else ""
        raise GuardError(source, [f"not a valid expression{column}: {exc.msg}"]) from None
    compiler = _Compiler(names, conditions)
    fn = compiler.visit(tree.body)
    if compiler.problems:
        raise GuardError(source, compiler.problems, compiler.unknown)
    scalar = scalar_form(tree.body, {name: c.scalar for name, c in conditions.items()})
    return Guard(
        source, frozenset(compiler.names), frozenset(compiler.used_conditions), fn, scalar
    )


def guard_names(source: str) -> set[str]:
    """The bare names an expression mentions (no checks); empty if it does not parse."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def truth(x: Any) -> Value:
    """A value as a truth value: NaN stays unknown, zero is false, anything else true."""
    if isinstance(x, np.ndarray):
        a = x.astype(np.float64, copy=False)
        return np.where(a == a, a != 0, NAN)
    f = float(x)
    if f != f:
        return NAN
    return 1.0 if f != 0.0 else 0.0


def holds(value: Value) -> bool:
    return not isinstance(value, np.ndarray) and value == 1.0


# -- Kleene logic -------------------------------------------------------------------------------


def kleene_and(a: Value, b: Value) -> Value:
    """Of two truth values (1.0, 0.0, NaN, as ``truth`` gives them)."""
    if isinstance(a, float) and isinstance(b, float):
        if a == 0.0 or b == 0.0:
            return 0.0
        return NAN if (a != a or b != b) else 1.0
    aa, bb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    # false if either is false (``fmin`` passes over NaN), else the smaller (NaN if either is)
    return np.where(np.fmin(aa, bb) == 0.0, 0.0, np.minimum(aa, bb))


def kleene_or(a: Value, b: Value) -> Value:
    """Of two truth values (1.0, 0.0, NaN, as ``truth`` gives them)."""
    if isinstance(a, float) and isinstance(b, float):
        if a == 1.0 or b == 1.0:
            return 1.0
        return NAN if (a != a or b != b) else 0.0
    aa, bb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    # true if either is true (``fmax`` passes over NaN), else the larger (NaN if either is)
    return np.where(np.fmax(aa, bb) == 1.0, 1.0, np.maximum(aa, bb))


def kleene_not(a: Value) -> Value:
    return 1.0 - a  # NaN stays NaN; 1 and 0 swap


# -- the compiler -------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, names: Container[str], conditions: Mapping[str, Guard]) -> None:
        self.known = names
        self.conditions = conditions
        self.problems: list[str] = []
        self.names: set[str] = set()
        self.used_conditions: set[str] = set()
        self.unknown: list[str] = []

    def refuse(self, message: str) -> Node:
        if message not in self.problems:
            self.problems.append(message)
        return _const(NAN)

    def visit(self, node: ast.expr) -> Node:
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.BoolOp):
            parts = [self.visit(v) for v in node.values]
            return _all(parts) if isinstance(node.op, ast.And) else _any(parts)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        what = _REFUSED_NODES.get(type(node), type(node).__name__)
        return self.refuse(f"{what} is not allowed in a guard; allowed: {ALLOWED}")

    def name(self, name: str) -> Node:
        if name in self.conditions:
            condition = self.conditions[name]
            self.used_conditions.add(name)
            self.used_conditions.update(condition.conditions)
            self.names.update(condition.names)
            return _truth_valued(lambda env: condition(env))
        if name in FUNCTIONS:
            return self.refuse(f"{name} is a function: call it, e.g. {name}(a, b)")
        if name not in self.known:
            if name not in self.unknown:
                self.unknown.append(name)
            return self.refuse(f"unknown name {name!r}")
        self.names.add(name)
        return _lookup(name)

    def constant(self, value: object) -> Node:
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "text" if isinstance(value, str) else repr(value)
            return self.refuse(f"{kind} is not allowed in a guard: use numbers and names")
        return _const(float(value))

    def unary(self, node: ast.UnaryOp) -> Node:
        inner = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return _truth_valued(lambda env: kleene_not(_as_truth(inner, env)))
        if isinstance(node.op, ast.USub):
            return _negative(inner)
        if isinstance(node.op, ast.UAdd):
            return inner
        return self.refuse(f"operator ~ is not allowed in a guard; allowed: {ALLOWED}")

    def compare(self, node: ast.Compare) -> Node:
        operands = [self.visit(node.left), *(self.visit(c) for c in node.comparators)]
        links: list[Node] = []
        for i, op in enumerate(node.ops):
            if type(op) in _REFUSED_COMPARE:
                symbol = _REFUSED_COMPARE[type(op)]
                return self.refuse(f"comparison {symbol!r} is not allowed; use < <= > >= == !=")
            links.append(_comparison(_COMPARE[type(op)], operands[i], operands[i + 1]))
        return links[0] if len(links) == 1 else _all(links)

    def binop(self, node: ast.BinOp) -> Node:
        left, right = self.visit(node.left), self.visit(node.right)
        if type(node.op) in _REFUSED_OPERATORS:
            symbol = _REFUSED_OPERATORS[type(node.op)]
            return self.refuse(f"operator {symbol} is not allowed in a guard; only + - * /")
        return _arithmetic(_ARITH[type(node.op)], left, right)

    def call(self, node: ast.Call) -> Node:
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func not in FUNCTIONS:
            label = f"{func}()" if func else "this call"
            return self.refuse(f"calling {label} is not allowed; only min(), max() and abs()")
        if node.keywords:
            return self.refuse(f"{func}() takes no keyword arguments")
        args = [self.visit(a) for a in node.args]
        if func == "abs":
            if len(args) != 1:
                return self.refuse("abs() takes exactly one argument")
            return _absolute(args[0])
        if len(args) < 2:
            return self.refuse(f"{func}() takes two or more arguments")
        return _extreme(func == "min", args)


def _lookup(name: str) -> Node:
    def run(env: Env) -> Value:
        value = env[name]
        return value if isinstance(value, np.ndarray) else float(value)

    return run


def _const(value: float) -> Node:
    return lambda env: value


def _negative(inner: Node) -> Node:
    def run(env: Env) -> Value:
        value = inner(env)
        return -value if isinstance(value, float) else np.negative(value)

    return run


def _absolute(inner: Node) -> Node:
    def run(env: Env) -> Value:
        value = inner(env)
        return abs(value) if isinstance(value, float) else np.abs(value)

    return run


def _all(parts: list[Node]) -> Node:
    first, rest = parts[0], parts[1:]

    def run(env: Env) -> Value:
        # ``1.0 and x`` is x for every truth value: the first part is the result so far
        result: Value = _as_truth(first, env)
        if isinstance(result, float) and result == 0.0:
            return 0.0
        for part in rest:
            result = kleene_and(result, _as_truth(part, env))
            if isinstance(result, float) and result == 0.0:
                return 0.0  # short-circuit: false and anything is false
        return result

    return _truth_valued(run)


def _any(parts: list[Node]) -> Node:
    first, rest = parts[0], parts[1:]

    def run(env: Env) -> Value:
        # ``0.0 or x`` is x for every truth value: the first part is the result so far
        result: Value = _as_truth(first, env)
        if isinstance(result, float) and result == 1.0:
            return 1.0
        for part in rest:
            result = kleene_or(result, _as_truth(part, env))
            if isinstance(result, float) and result == 1.0:
                return 1.0
        return result

    return _truth_valued(run)


# Nodes whose value is already a truth value (comparisons, and/or/not, named conditions) are
# marked when compiled, so that ``truth`` (three numpy passes over an array) is not run on them
# again: it would give the same values.
_TRUTH_VALUED = "_guard_truth_valued"


def _truth_valued(node: Node) -> Node:
    setattr(node, _TRUTH_VALUED, True)
    return node


def _is_truth_valued(node: Node) -> bool:
    return getattr(node, _TRUTH_VALUED, False) is True


def _as_truth(node: Node, env: Env) -> Value:
    value = node(env)
    return value if _is_truth_valued(node) else truth(value)


def _comparison(op: Callable[[Any, Any], Any], left: Node, right: Node) -> Node:
    def run(env: Env) -> Value:
        a, b = left(env), right(env)
        if isinstance(a, float) and isinstance(b, float):
            if a != a or b != b:
                return NAN
            return 1.0 if op(a, b) else 0.0
        return _compared(op, a, b)

    return _truth_valued(run)


def _compared(op: Callable[[Any, Any], Any], a: Value, b: Value) -> Array:
    """``op`` element-wise where neither side is NaN (1.0 or 0.0), else NaN. A side that is a
    plain float (a constant, a parameter) is compared as it is: a NaN there is every element
    unknown, and it needs no pass of its own (numpy's comparisons with NaN raise no warning)."""
    if isinstance(b, float) and b == b:
        aa = np.asarray(a, dtype=np.float64)
        return np.where(aa == aa, op(aa, b), NAN)
    if isinstance(a, float) and a == a:
        bb = np.asarray(b, dtype=np.float64)
        return np.where(bb == bb, op(a, bb), NAN)
    aa, bb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.where((aa == aa) & (bb == bb), op(aa, bb), NAN)


def _arithmetic(symbol: str, left: Node, right: Node) -> Node:
    def run(env: Env) -> Value:
        a, b = left(env), right(env)
        if isinstance(a, float) and isinstance(b, float):
            if symbol == "/":
                return a / b if b != 0.0 else NAN  # x/0 is unknown, not an error
            return a + b if symbol == "+" else a - b if symbol == "-" else a * b
        aa, bb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if symbol == "/":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(bb == 0.0, NAN, aa / np.where(bb == 0.0, 1.0, bb))
        if symbol == "+":
            return np.add(aa, bb)
        return np.subtract(aa, bb) if symbol == "-" else np.multiply(aa, bb)

    return run


def _extreme(smallest: bool, args: list[Node]) -> Node:
    def run(env: Env) -> Value:
        values = [a(env) for a in args]
        if all(isinstance(v, float) for v in values):
            floats = [float(v) for v in values]
            if any(math.isnan(v) for v in floats):
                return NAN
            return min(floats) if smallest else max(floats)
        result: Array = np.asarray(values[0], dtype=np.float64)
        for v in values[1:]:
            # np.minimum/maximum propagate NaN: unknown stays unknown
            other = np.asarray(v, dtype=np.float64)
            result = np.minimum(result, other) if smallest else np.maximum(result, other)
        return result

    return run
