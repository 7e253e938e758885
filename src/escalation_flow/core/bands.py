"""Attendance bands: the ``attendance_pct`` interval an entry criterion stands for.

Plans write bands loosely ("93% - 96%" next to "96% - 100%", "93-95%" next to "96-100%"), so
the flow file decides every edge (``< 96``, ``>= 93``). This module reads those edges back out
of a criterion's guard so that the checks can show where two stages' bands overlap.

Only a conjunction of comparisons is read (``a and b and ...``); each comparison of
``attendance_pct`` with a number or a parameter narrows the band, anything else (lates, trends)
is ignored. A criterion that does not bound ``attendance_pct`` at all has no band.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from escalation_flow.core.definition import TERMS, Criteria, Criterion, FlowDefinition

BAND_FACT = "attendance_pct"


@dataclass(frozen=True)
class Band:
    """An interval of attendance percentage; edges say whether they are inside."""

    low: float = -math.inf
    low_inside: bool = False
    high: float = math.inf
    high_inside: bool = False

    def narrow_low(self, value: float, inside: bool) -> Band:
        if value > self.low or (value == self.low and not inside):
            return Band(value, inside, self.high, self.high_inside)
        return self

    def narrow_high(self, value: float, inside: bool) -> Band:
        if value < self.high or (value == self.high and not inside):
            return Band(self.low, self.low_inside, value, inside)
        return self

    def overlap(self, other: Band) -> Band | None:
        """The shared part, or None when the two bands do not meet."""
        both = self.narrow_low(other.low, other.low_inside).narrow_high(
            other.high, other.high_inside
        )
        if both.low < both.high:
            return both
        if both.low == both.high and both.low_inside and both.high_inside:
            return both
        return None

    def __str__(self) -> str:
        if self.low == self.high:
            return f"{_num(self.low)}%"
        parts = []
        if self.low != -math.inf:
            parts.append(f"{'at least' if self.low_inside else 'above'} {_num(self.low)}%")
        if self.high != math.inf:
            parts.append(f"{'at most' if self.high_inside else 'below'} {_num(self.high)}%")
        return " and ".join(parts) or "any attendance"


def band_of(expression: str, parameters: Mapping[str, float]) -> Band | None:
    """The band ``expression`` bounds ``attendance_pct`` to, or None if it does not bound it."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    is_and = isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And)
    conjuncts = tree.values if isinstance(tree, ast.BoolOp) and is_and else [tree]
    band = Band()
    bounded = False
    for node in conjuncts:
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            narrowed = _narrow(band, operands[i], op, operands[i + 1], parameters)
            if narrowed is not None:
                band, bounded = narrowed, True
    return band if bounded else None


def _narrow(
    band: Band, left: ast.expr, op: ast.cmpop, right: ast.expr, parameters: Mapping[str, float]
) -> Band | None:
    if _is_fact(left):
        value, flipped = _number(right, parameters), False
    elif _is_fact(right):
        value, flipped = _number(left, parameters), True
    else:
        return None
    if value is None:
        return None
    kind = type(op)
    if flipped:  # 90 <= attendance_pct is attendance_pct >= 90
        kind = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}.get(kind, kind)
    if kind is ast.Lt:
        return band.narrow_high(value, False)
    if kind is ast.LtE:
        return band.narrow_high(value, True)
    if kind is ast.Gt:
        return band.narrow_low(value, False)
    if kind is ast.GtE:
        return band.narrow_low(value, True)
    if kind is ast.Eq:
        return band.narrow_low(value, True).narrow_high(value, True)
    return None


def _is_fact(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == BAND_FACT


def _number(node: ast.expr, parameters: Mapping[str, float]) -> float | None:
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(node, ast.Name) and node.id in parameters:
        return parameters[node.id]
    return None


def _num(value: float) -> str:
    return f"{value:g}"


# -- overlaps between stages --------------------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Banded:
    stage: int
    criterion: Criterion
    loc: Loc
    bands: dict[str, Band]  # term -> band


def band_overlaps(flow: FlowDefinition) -> list[tuple[Loc, str]]:
    """(place, message) for every two stages' bands that overlap without ``overlap: intended``."""
    found: list[tuple[Loc, str]] = []
    banded: list[_Banded] = []
    for i, stage in enumerate(flow.stages):
        if stage.entry is None:
            continue
        for loc, criterion in criteria_with_locs(("stages", i, "entry"), stage.entry):
            if criterion.overlap and not criterion.why:
                found.append(((*loc, "overlap"), "overlap: intended needs a why"))
            bands = {}
            for term in TERMS:
                params = {n: p.for_term(term) for n, p in flow.parameters.items()}
                band = band_of(criterion.when, params)
                if band is not None:
                    bands[term] = band
            if bands:
                banded.append(_Banded(stage.number, criterion, loc, bands))
    for j, later in enumerate(banded):
        for earlier in banded[:j]:
            intended = earlier.criterion.overlap or later.criterion.overlap
            if earlier.stage != later.stage and not intended:
                found.extend(_overlap(earlier, later))
    return found


def _overlap(a: _Banded, b: _Banded) -> list[tuple[Loc, str]]:
    shared = {t: a.bands[t].overlap(b.bands[t]) for t in TERMS if t in a.bands and t in b.bands}
    terms = [t for t, band in shared.items() if band is not None]
    if not terms:
        return []
    when = "" if len(terms) == len(TERMS) else f" in {', '.join(terms)}"
    message = (
        f"stage {b.stage} band {b.criterion.id!r} ({b.bands[terms[0]]}) overlaps stage "
        f"{a.stage} band {a.criterion.id!r} ({a.bands[terms[0]]}){when}; both hold for "
        f"{shared[terms[0]]}: decide the edge in one of them, or mark one overlap: intended "
        "with a why"
    )
    return [((*b.loc, "when"), message)]


def criteria_with_locs(loc: Loc, criteria: Criteria) -> Iterator[tuple[Loc, Criterion]]:
    for j, item in enumerate(criteria.items):
        if isinstance(item, Criterion):
            yield (*loc, criteria.mode, j), item
        else:
            yield from criteria_with_locs((*loc, criteria.mode, j), item)
