"""Calendar YAML files (the contract's format) into ``SchoolCalendar``s, with England and Wales
bank holidays folded in from the ``holidays`` library."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from escalation_flow.adapters.csv_safety import excerpt
from escalation_flow.adapters.yaml_source import line_of, read_yaml
from escalation_flow.core.calendar import SchoolCalendar, Term, TermName, YearSpec
from escalation_flow.errors import CalendarError, Problem

_ALLOWED_KEYS = {"name", "timezone", "terms", "closures"}
_TERM_KEYS = {"name", "start", "end", "half_term"}


def load_calendar(paths: Path | Sequence[Path]) -> SchoolCalendar:
    """Load one academic year, or several consecutive years as one calendar."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    years = [load_year(p) for p in files]
    years.sort(key=lambda y: y.terms[0].start)
    first_year = min(y.terms[0].start.year for y in years)
    last_year = max(y.terms[-1].end.year for y in years)
    bank = holidays_lib.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
    version = hashlib.sha256("".join(y.source_digest for y in years).encode()).hexdigest()
    return SchoolCalendar.build(years, bank_holidays=bank.keys(), version=version)


def load_year(path: Path) -> YearSpec:
    doc = read_yaml(path, CalendarError)
    problems: list[Problem] = []
    data = doc.data
    f = str(path)
    if not isinstance(data, dict):
        raise CalendarError(f"{f} is not a calendar", [Problem(f, 1, None, "expected a mapping")])
    for key in data:
        if key not in _ALLOWED_KEYS:
            problems.append(Problem(f, line_of(data, key), str(key), "unknown key"))
    name = data.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(f, line_of(data, "name"), "name", "a calendar needs a name"))
        name = path.stem
    tz = str(data.get("timezone", "Europe/London"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(f, line_of(data, "timezone"), "timezone", f"unknown zone {excerpt(tz)}")
        )
    terms = _terms(data.get("terms"), data, f, name, problems)
    closures: set[date] = set()
    raw_closures = data.get("closures") or []
    if not isinstance(raw_closures, list):
        problems.append(Problem(f, line_of(data, "closures"), "closures", "expected a list"))
        raw_closures = []
    for i, value in enumerate(raw_closures):
        d = _date(value, f, line_of(raw_closures, i), f"closures[{i}]", problems)
        if d is not None:
            if not any(t.contains(d) for t in terms):
                problems.append(
                    Problem(f, line_of(raw_closures, i), f"closures[{i}]", f"{d} is in no term")
                )
            closures.add(d)
    if problems:
        raise CalendarError(f"calendar {f} has {len(problems)} problem(s)", problems)
    return YearSpec(name, tz, tuple(terms), frozenset(closures), source_digest=doc.digest)


def _terms(raw: Any, parent: Any, f: str, year: str, problems: list[Problem]) -> list[Term]:
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(f, line_of(parent, "terms"), "terms", "expected a list of terms"))
        return []
    terms: list[Term] = []
    lines: list[int | None] = []  # each kept term's line, for the problems between terms
    named: dict[TermName, int | None] = {}
    for i, t in enumerate(raw):
        where = f"terms[{i}]"
        line = line_of(raw, i)
        if not isinstance(t, dict):
            problems.append(Problem(f, line, where, "expected a mapping"))
            continue
        for key in t:
            if key not in _TERM_KEYS:
                problems.append(Problem(f, line_of(t, key), f"{where}.{key}", "unknown key"))
        try:
            name = TermName(str(t.get("name")))
        except ValueError:
            problems.append(
                Problem(f, line_of(t, "name"), f"{where}.name", "must be autumn, spring or summer")
            )
            continue
        if name in named:
            first = named[name]
            message = f"a second {name} term (the first is on line {first})"
            problems.append(Problem(f, line_of(t, "name"), f"{where}.name", message))
            continue
        named[name] = line_of(t, "name")
        start = _date(t.get("start"), f, line_of(t, "start"), f"{where}.start", problems)
        end = _date(t.get("end"), f, line_of(t, "end"), f"{where}.end", problems)
        half: tuple[date, date] | None = None
        raw_half = t.get("half_term")
        if raw_half is not None:
            hl = line_of(t, "half_term")
            if not isinstance(raw_half, list) or len(raw_half) != 2:
                problems.append(Problem(f, hl, f"{where}.half_term", "expected [first, last]"))
            else:
                a = _date(raw_half[0], f, hl, f"{where}.half_term", problems)
                b = _date(raw_half[1], f, hl, f"{where}.half_term", problems)
                if a and b:
                    half = (a, b)
        if start is None or end is None:
            continue
        if end < start:
            problems.append(Problem(f, line_of(t, "end"), f"{where}.end", "ends before it starts"))
            continue
        if half and not (start < half[0] <= half[1] < end):
            message = "must lie inside the term"
            problems.append(Problem(f, line_of(t, "half_term"), f"{where}.half_term", message))
            half = None
        terms.append(Term(name, start, end, half, year))
        lines.append(line)
    for (earlier, _), (later, line) in itertools.pairwise(zip(terms, lines, strict=True)):
        if later.start <= earlier.end:
            message = (
                f"{later.name} starts ({later.start}) before {earlier.name} ends ({earlier.end})"
            )
            problems.append(Problem(f, line, "terms", message))
    return terms


def _date(value: Any, f: str, line: int | None, field: str, problems: list[Problem]) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(Problem(f, line, field, f"{excerpt(value)} is not a date (YYYY-MM-DD)"))
        return None
