"""Each synthetic school's calendar: the bundled England year, varied a little per school.

Real schools in one trust share most dates but differ in a half-term week here and an INSET day
there; the variation makes school-day arithmetic differ between schools, which is what the
per-school calendars are for. School days themselves are only ever decided by
``escalation_flow.adapters.calendar_files.load_calendar``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from escalation_flow.adapters.calendar_files import load_year
from escalation_flow.core.calendar import Term, TermName, YearSpec

REPO = Path(__file__).resolve().parents[2]
BUNDLED_CALENDARS: tuple[Path, ...] = (
    REPO / "config" / "calendars" / "england-2025-26.yaml",
    REPO / "config" / "calendars" / "england-2026-27.yaml",
)
#: Half-term weeks that may move a week either way (summer's holds the May bank holiday).
_MOVABLE_BREAKS = {TermName.AUTUMN, TermName.SPRING}


def base_years(paths: Sequence[Path]) -> list[YearSpec]:
    return sorted((load_year(p) for p in paths), key=lambda y: y.terms[0].start)


def varied_year(
    base: YearSpec, school_id: str, rng: np.random.Generator, bank: frozenset[date]
) -> YearSpec:
    """``base`` with its breaks, first day and INSET days nudged; name ``<school>-<years>``."""
    terms = tuple(_varied_term(t, rng) for t in base.terms)
    closures = {_moved_closure(c, terms, rng, bank) for c in sorted(base.closures)}
    suffix = base.name.split("-", 1)[1] if "-" in base.name else base.name
    name = f"{school_id}-{suffix}"
    terms = tuple(replace(t, year=name) for t in terms)
    return YearSpec(name, base.timezone, terms, frozenset(closures))


def _varied_term(term: Term, rng: np.random.Generator) -> Term:
    start = term.start
    if term.name is TermName.AUTUMN and rng.random() < 0.3:
        start = _next_weekday(start)  # one more INSET day before pupils arrive
    half = term.half_term
    if half is not None and term.name in _MOVABLE_BREAKS:
        shift = timedelta(days=int(rng.choice([-7, 0, 7], p=[0.2, 0.6, 0.2])))
        moved = (half[0] + shift, half[1] + shift)
        if start + timedelta(days=14) < moved[0] and moved[1] + timedelta(days=14) < term.end:
            half = moved
    return replace(term, start=start, half_term=half)


def _moved_closure(
    closure: date, terms: Sequence[Term], rng: np.random.Generator, bank: frozenset[date]
) -> date:
    if rng.random() < 0.5:
        return closure
    step = int(rng.choice([-3, -2, -1, 1, 2, 3]))
    candidate = closure
    for _ in range(abs(step)):
        candidate = _next_weekday(candidate) if step > 0 else _previous_weekday(candidate)
    for term in terms:
        in_break = term.half_term is not None and (
            term.half_term[0] <= candidate <= term.half_term[1]
        )
        if term.contains(candidate) and not in_break and candidate not in bank:
            return candidate
    return closure


def _next_weekday(d: date) -> date:
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _previous_weekday(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def calendar_yaml(spec: YearSpec, note: str) -> str:
    """The contract's calendar format."""
    lines = [f"# {note}", f"name: {spec.name}", f"timezone: {spec.timezone}", "terms:"]
    for t in spec.terms:
        lines += [f"  - name: {t.name.value}", f"    start: {t.start}", f"    end: {t.end}"]
        if t.half_term is not None:
            lines.append(f"    half_term: [{t.half_term[0]}, {t.half_term[1]}]")
    closures = sorted(spec.closures)
    lines.append("closures:          # INSET days inside the terms" if closures else "closures: []")
    lines += [f"  - {c}" for c in closures]
    return "\n".join(lines) + "\n"


def write_school_calendars(
    folder: Path,
    school_id: str,
    bases: Sequence[YearSpec],
    rng: np.random.Generator,
    bank: frozenset[date],
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for base in bases:
        spec = varied_year(base, school_id, rng, bank)
        path = folder / f"{spec.name}.yaml"
        note = f"Synthetic calendar of {school_id}, varied from {base.name} by make_trust.py."
        path.write_text(calendar_yaml(spec, note), encoding="utf-8")
        paths.append(path)
    return paths
