"""Guard expressions: the allow-list, Kleene logic, scalars and arrays alike."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_flow.core import guards
from escalation_flow.core.guards import GuardError, compile_guard, kleene_and, kleene_or

NAN = float("nan")
NAMES = {"a", "b", "c", "attendance_pct", "lates", "flag"}
ALLOWED = (
    "allowed: names, numbers, comparisons (< <= > >= == !=), and, or, not, + - * /, "
    "parentheses, min(), max(), abs()"
)


def value(source: str, **env: float) -> float:
    result = compile_guard(source, NAMES)(env)
    assert isinstance(result, float)
    return result


def same(x: object, y: float) -> bool:
    assert isinstance(x, float)
    return (math.isnan(x) and math.isnan(y)) or x == y


@pytest.mark.parametrize(
    ("source", "env", "expected"),
    [
        ("a < 96", {"a": 95.0}, 1.0),
        ("a < 96", {"a": 96.0}, 0.0),
        ("a <= 96", {"a": 96.0}, 1.0),
        ("93 <= a < 96", {"a": 93.0}, 1.0),
        ("93 <= a < 96", {"a": 96.0}, 0.0),
        ("a == 1 and b != 2", {"a": 1, "b": 3}, 1.0),
        ("a + b * 2 - c / 4 >= 10", {"a": 4, "b": 3, "c": 0}, 1.0),
        ("-a < 0", {"a": 1}, 1.0),
        ("min(a, b) > 1 and max(a, b, c) == 9 and abs(c) == 9", {"a": 2, "b": 3, "c": -9}, 0.0),
        ("min(a, b) > 1 and max(a, b, -c) == 9 and abs(c) == 9", {"a": 2, "b": 3, "c": -9}, 1.0),
        ("flag", {"flag": 1}, 1.0),
        ("flag", {"flag": 0}, 0.0),
        ("not flag", {"flag": 0}, 1.0),
        ("a / b > 1", {"a": 1, "b": 0}, NAN),  # x/0 is unknown, not an error
    ],
)
def test_allowed_forms_evaluate(source: str, env: dict[str, float], expected: float) -> None:
    assert same(value(source, **env), expected)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "a.real > 1",
            f"attribute access (.) is not allowed in a guard; {ALLOWED}",
        ),
        (
            "a[0] > 1",
            f"indexing ([...]) is not allowed in a guard; {ALLOWED}",
        ),
        (
            "__import__('os') == 1",
            "calling __import__() is not allowed; only min(), max() and abs()",
        ),
        ("len(a) > 1", "calling len() is not allowed; only min(), max() and abs()"),
        ("a ** 2 > 1", "operator ** is not allowed in a guard; only + - * /"),
        (
            "a % 2 == 1",
            "a % sign is not allowed in a guard: percentages are plain numbers (write "
            "attendance_pct < 90, not attendance_pct < 90%), and % is not an operator either",
        ),
        ("a in b", "comparison 'in' is not allowed; use < <= > >= == !="),
        ("a is b", "comparison 'is' is not allowed; use < <= > >= == !="),
        ("a == 'x'", "text is not allowed in a guard: use numbers and names"),
        ("a == True", "True is not allowed in a guard: use numbers and names"),
        (
            "1 if a else 0",
            f"if ... else is not allowed in a guard; {ALLOWED}",
        ),
        (
            "lambda: 1",
            f"lambda is not allowed in a guard; {ALLOWED}",
        ),
        ("abs(a, b) > 1", "abs() takes exactly one argument"),
        ("min(a) > 1", "min() takes two or more arguments"),
        ("max(a, key=b) > 1", "max() takes no keyword arguments"),
        ("attendence_pct < 90", "unknown name 'attendence_pct'"),
        ("a <", "not a valid expression: invalid syntax"),
    ],
)
def test_refused_forms_name_what_is_allowed(source: str, message: str) -> None:
    with pytest.raises(GuardError) as caught:
        compile_guard(source, NAMES)
    assert caught.value.problems == [message]


def test_every_problem_of_a_guard_is_reported_at_once() -> None:
    with pytest.raises(GuardError) as caught:
        compile_guard("a.b > 1 and nope < 2 and c ** 2 > 0", NAMES)
    assert len(caught.value.problems) == 3
    assert caught.value.unknown == ["nope"]


NAN_F = float("nan")
KLEENE = [  # (a, b, a and b, a or b): 1 true, 0 false, nan unknown
    (1.0, 1.0, 1.0, 1.0),
    (1.0, 0.0, 0.0, 1.0),
    (0.0, 0.0, 0.0, 0.0),
    (1.0, NAN_F, NAN_F, 1.0),
    (0.0, NAN_F, 0.0, NAN_F),
    (NAN_F, NAN_F, NAN_F, NAN_F),
]


@pytest.mark.parametrize(("a", "b", "both", "either"), KLEENE)
def test_kleene_logic_on_scalars(a: float, b: float, both: float, either: float) -> None:
    assert same(kleene_and(a, b), both) and same(kleene_and(b, a), both)
    assert same(kleene_or(a, b), either) and same(kleene_or(b, a), either)


def test_kleene_logic_on_arrays_matches_scalars() -> None:
    a = np.array([k[0] for k in KLEENE])
    b = np.array([k[1] for k in KLEENE])
    np.testing.assert_array_equal(kleene_and(a, b), np.array([k[2] for k in KLEENE]))
    np.testing.assert_array_equal(kleene_or(a, b), np.array([k[3] for k in KLEENE]))


def test_an_unknown_percentage_makes_a_comparison_unknown_and_the_guard_not_fire() -> None:
    guard = compile_guard("attendance_pct < 96", NAMES)
    assert math.isnan(guard({"attendance_pct": NAN}))
    assert not guard.holds({"attendance_pct": NAN})
    assert not compile_guard("not attendance_pct < 96", NAMES).holds({"attendance_pct": NAN})


def test_false_and_unknown_is_false_true_or_unknown_is_true() -> None:
    env = {"attendance_pct": NAN, "lates": 3.0}
    assert compile_guard("attendance_pct < 96 or lates >= 3", NAMES).holds(env)
    assert compile_guard("attendance_pct < 96 and lates >= 5", NAMES)(env) == 0.0


def test_the_same_guard_runs_on_arrays_of_pupils_and_mixes_with_scalars() -> None:
    guard = compile_guard("93 <= attendance_pct < a or lates >= 3", NAMES)
    env = {
        "attendance_pct": np.array([95.0, 97.0, NAN, NAN, 92.0]),
        "lates": np.array([0.0, 0.0, 3.0, 0.0, 1.0]),
        "a": 96.0,
    }
    result = guard(env)
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, [1.0, 0.0, 1.0, NAN, 0.0])
    np.testing.assert_array_equal(guard.mask(env), [True, False, True, False, False])


def test_array_arithmetic_and_functions_keep_unknown_unknown() -> None:
    guard = compile_guard("min(attendance_pct, a) / b >= 1", NAMES)
    env = {"attendance_pct": np.array([90.0, NAN]), "a": 95.0, "b": np.array([90.0, 0.0])}
    np.testing.assert_array_equal(guard(env), [1.0, NAN])


def test_named_conditions_are_inlined_and_their_names_reported() -> None:
    improved = compile_guard("attendance_pct > a", NAMES)
    guard = compile_guard("improved and lates < 3", NAMES, {"improved": improved})
    assert guard.holds({"attendance_pct": 97.0, "a": 96.0, "lates": 0.0})
    assert guard.names == {"attendance_pct", "a", "lates"}
    assert guard.conditions == {"improved"}


def test_guards_module_never_evaluates_text() -> None:
    source = Path(guards.__file__).read_text()
    assert "eval(" not in source and "exec(" not in source


# -- arrays decide as scalars do, whatever the expression --------------------------------------

_VALUES = st.sampled_from([NAN, 0.0, 1.0, 2.0, 95.5, -3.0])
_OPERAND = st.sampled_from(["a", "b", "c", "flag", "1", "0", "2.5"])


def _expressions() -> st.SearchStrategy[str]:
    comparison = st.builds(
        lambda left, op, right: f"{left} {op} {right}",
        _OPERAND,
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        _OPERAND,
    )
    leaf = st.one_of(comparison, _OPERAND)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda x, y: f"({x}) and ({y})", inner, inner),
            st.builds(lambda x, y: f"({x}) or ({y})", inner, inner),
            st.builds(lambda x: f"not ({x})", inner),
            st.builds(lambda x, y: f"({x}) + ({y}) > 1", inner, inner),
            st.builds(lambda x, y: f"min({x}, {y})", inner, inner),
            st.builds(lambda x: f"improved and ({x})", inner),
        ),
        max_leaves=8,
    )


@settings(max_examples=300, deadline=None, database=None)
@given(_expressions(), st.lists(st.tuples(_VALUES, _VALUES, _VALUES, _VALUES), min_size=1, max_size=6))
def test_a_guard_over_arrays_gives_each_pupil_what_it_gives_them_alone(
    source: str, rows: list[tuple[float, float, float, float]]
) -> None:
    """The array path (Kleene logic on whole arrays, and no second ``truth`` pass over what is
    already a truth value) is the scalar path, element by element, unknowns included."""
    improved = compile_guard("a > b", NAMES)
    guard = compile_guard(source, NAMES, {"improved": improved})
    columns = {name: np.array([r[i] for r in rows]) for i, name in enumerate("abc")}
    columns["flag"] = np.array([r[3] for r in rows])
    together = np.broadcast_to(guard(columns), (len(rows),))
    for i, r in enumerate(rows):
        alone = guard({"a": r[0], "b": r[1], "c": r[2], "flag": r[3]})
        assert isinstance(alone, float)
        assert same(float(together[i]), alone), (source, r)
    np.testing.assert_array_equal(
        np.broadcast_to(guard.mask(columns), (len(rows),)), together == 1.0
    )
