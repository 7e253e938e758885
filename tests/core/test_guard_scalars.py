"""A guard's scalar form answers as its tree does: the same truth value, the same names read in
the same order (a lazily computed fact is computed at the same moment), the same errors."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_flow.core.guard_scalars import NotScalarError
from escalation_flow.core.guards import Guard, compile_guard

NAMES = ("a", "b", "c", "d")
VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 3.0, 90.0, float("nan"), float("inf")])


class Reads(Mapping[str, Any]):
    """An environment that remembers the names read, in order."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        self.read: list[str] = []

    def __getitem__(self, name: str) -> Any:
        self.read.append(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NAMES), st.sampled_from(["0", "1", "2.5", "90"]))


def _expressions() -> st.SearchStrategy[str]:
    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        ops = ["<", "<=", ">", ">=", "==", "!="]
        return st.one_of(
            st.tuples(inner, st.sampled_from(ops), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(ops), inner, st.sampled_from(ops), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]} {t[3]} {t[4]})"
            ),
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} and {t[1]} and {t[2]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} or {t[1]} or {t[2]})"),
            inner.map(lambda x: f"(not {x})"),
            inner.map(lambda x: f"(-{x})"),
            inner.map(lambda x: f"(+{x})"),
            inner.map(lambda x: f"abs({x})"),
            st.tuples(st.sampled_from(["+", "-", "*", "/"]), inner, inner).map(
                lambda t: f"({t[1]} {t[0]} {t[2]})"
            ),
            st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=2, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
        )

    return st.recursive(_leaf(), grow, max_leaves=8)


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == y


def _tree_value(guard: Guard, env: Mapping[str, Any]) -> float:
    value = guard(env)
    assert isinstance(value, float)
    return value


@settings(max_examples=400, deadline=None)
@given(_expressions(), st.fixed_dictionaries({n: VALUES for n in NAMES}))
def test_the_scalar_form_gives_the_trees_value_reading_the_same_names(
    source: str, values: dict[str, float]
) -> None:
    guard = compile_guard(source, set(NAMES))
    assert guard._scalar is not None
    by_tree, by_scalar = Reads(values), Reads(values)
    expected = _tree_value(guard, by_tree)
    assert _same(guard._scalar(by_scalar), expected)
    assert by_scalar.read == by_tree.read
    assert guard.holds(values) == (expected == 1.0)


@settings(max_examples=200, deadline=None)
@given(_expressions(), st.fixed_dictionaries({n: VALUES for n in NAMES}))
def test_conditions_inside_a_guard_answer_as_in_the_tree(source: str, values: dict[str, float]) -> None:
    inner = compile_guard(source, set(NAMES))
    outer = compile_guard("(a > 1 or met) and not met", set(NAMES), {"met": inner})
    by_tree, by_scalar = Reads(values), Reads(values)
    assert _same(outer.scalar(by_scalar), _tree_value(outer, by_tree))
    assert by_scalar.read == by_tree.read


def test_a_missing_name_raises_the_same_key_error_after_the_same_reads() -> None:
    guard = compile_guard("a > 1 and b > 1 or c > 1", set(NAMES))
    for env in ({"a": 2.0}, {"a": 0.0}):
        with pytest.raises(KeyError) as by_tree:
            guard(dict(env))
        with pytest.raises(KeyError) as by_scalar:
            guard.holds(dict(env))
        assert by_scalar.value.args == by_tree.value.args


def test_short_circuit_leaves_the_later_names_unread() -> None:
    guard = compile_guard("a > 1 and b > 1", set(NAMES))
    env = Reads({"a": 0.0})  # no b: reading it would raise
    assert guard.holds(env) is False
    assert env.read == ["a"]


def test_an_array_among_the_values_falls_back_on_the_tree() -> None:
    guard = compile_guard("a > 1 and b > 1", set(NAMES))
    env = {"a": 2.0, "b": np.array([0.0, 2.0])}
    with pytest.raises(NotScalarError):
        guard.scalar(env)
    with pytest.raises(TypeError, match="use mask"):
        guard.holds(env)
    assert guard.mask(env).tolist() == [False, True]


def test_numpy_and_integer_scalars_read_as_floats() -> None:
    guard = compile_guard("a + b == 3 and c", set(NAMES))
    assert guard.holds({"a": np.float64(1.0), "b": 2, "c": np.bool_(True)}) is True
    assert guard.holds({"a": np.int64(1), "b": True, "c": 0}) is False
