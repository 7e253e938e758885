"""``escalation-flow facts``: one pupil's register facts as of a school day, as known at a time."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from escalation_flow.cli import main, root
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.fact_names import REGISTER_FACTS, Unit
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, MarkTable, Roster
from escalation_flow.errors import CalendarError, InputError, NotFoundError, Problem

#: Units whose values are whole numbers: printed as JSON integers.
_WHOLE = {Unit.SESSIONS, Unit.SCHOOL_DAYS, Unit.FLAG, Unit.NUMBER}


@dataclass(frozen=True)
class _MarksSource:
    """The marks, calendar and roster the facts are computed from, and where they came from."""

    origin: str  # a file's path or "the database"
    marks: MarkTable
    calendar: SchoolCalendar
    roster: Roster | None


@main.command("facts")
@click.option(
    "--calendar",
    "calendar_paths",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The school calendar YAML; repeat for consecutive academic years.",
)
@click.option(
    "--marks",
    "marks_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Register marks CSV. Without --calendar and --marks: the database.",
)
@click.option(
    "--roster",
    "roster_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Optional roster CSV (admission, leaving, date of birth); file form only.",
)
@click.option("--school", required=True, help="The school's id (or URN in the database form).")
@click.option("--pupil", required=True, help="The pupil's id in the MIS.")
@click.option(
    "--as-of",
    "as_of",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="The day (YYYY-MM-DD): facts at the end of it. A day that is not a school "
    "day means the end of the last school day before it.",
)
@click.option(
    "--known-at",
    "known_at",
    metavar="TIMESTAMP",
    help="Read the marks as known at this ISO 8601 instant with an offset "
    "(default: every mark in the file or database).",
)
@click.option(
    "--min-possible-sessions",
    "min_ytd",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Year-to-date percentages are unknown (null) below this many possible sessions.",
)
@click.option(
    "--min-window-sessions",
    "min_window",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="The same for term, half-term and school-week percentages.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: fact name to value.")
def facts(
    calendar_paths: Sequence[Path],
    marks_path: Path | None,
    roster_path: Path | None,
    school: str,
    pupil: str,
    as_of: datetime,
    known_at: str | None,
    min_ytd: int,
    min_window: int,
    as_json: bool,
) -> None:
    """Print one pupil's register facts at the end of a school day.

    Marks count as known at --known-at: for each session the version recorded last at or before
    it. A mark whose file gives no recorded_at counts as recorded when the file is read (the
    time of import), so an earlier --known-at leaves it out.

    --as-of must lie inside the calendar (an error names it otherwise). A weekend, holiday or
    closure inside it means "as of the end of the last school day on or before it". Unknown
    values (a percentage below its minimum of possible sessions) print as null.
    """
    now = root().clock.now()
    instant = _instant(known_at)
    source = _marks_source(calendar_paths, marks_path, roster_path, school)
    day = _school_day(source.calendar, as_of.date())
    values = _pupil_facts(source, pupil, day, instant, now, min_ytd, min_window)
    _note_unknown_recorded_at(_only(source.marks, pupil), instant, now)
    if as_json:
        click.echo(json.dumps(json_values(values), indent=2))
    else:
        click.echo(_table(source, pupil, day, instant, values))


def _pupil_facts(
    source: _MarksSource,
    pupil: str,
    day: int,
    known_at: datetime | None,
    now: datetime,
    min_ytd: int,
    min_window: int,
) -> dict[str, float]:
    """Every register fact of one pupil; only that pupil's marks are read into a grid."""
    from escalation_flow.core.facts import facts_as_of
    from escalation_flow.core.register import AssumeRecordedAt, register_as_known_at

    marks = _only(source.marks, pupil)
    roster = source.roster
    on_roster = roster is not None and pupil in roster.pupils
    if not len(marks) and not on_roster:
        raise NotFoundError(
            f"pupil {pupil!r} has no marks at school {source.marks.school!r} in {source.origin}"
        )
    if roster is not None:
        roster = Roster(roster.school, {p: r for p, r in roster.pupils.items() if p == pupil})
    grid = register_as_known_at(
        marks,
        source.calendar,
        known_at=known_at,
        unknown_recorded_at=AssumeRecordedAt(now),
        roster=roster,
    )
    table = facts_as_of(
        grid,
        source.calendar,
        day,
        min_possible_sessions_ytd=min_ytd,
        min_possible_sessions_window=min_window,
    )
    return table.row(pupil)


def json_values(values: Mapping[str, float]) -> dict[str, Any]:
    """NaN as null; whole-number units as integers; percentages and shares unrounded."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if math.isnan(value):
            out[name] = None
        elif REGISTER_FACTS[name].unit in _WHOLE and value.is_integer():
            out[name] = int(value)
        else:
            out[name] = value
    return out


# -- where the register comes from ---------------------------------------------------------------


def _marks_source(
    calendar_paths: Sequence[Path], marks_path: Path | None, roster_path: Path | None, school: str
) -> _MarksSource:
    if calendar_paths or marks_path:
        if not calendar_paths or marks_path is None:
            raise InputError("give both --calendar and --marks, or neither (to use the database)")
        return _from_files(calendar_paths, marks_path, roster_path, school)
    if roster_path is not None:
        raise InputError("--roster goes with --calendar and --marks; the database has its roster")
    return _from_store(school)


def _from_files(
    calendar_paths: Sequence[Path], marks_path: Path, roster_path: Path | None, school: str
) -> _MarksSource:
    from escalation_flow.adapters.calendar_files import load_calendar
    from escalation_flow.adapters.register_files import OneCalendar, read_marks, read_roster

    calendar = load_calendar(list(calendar_paths))
    # no pyarrow worker threads: one left alive at exit aborted the command (issue 14, item 7)
    result = read_marks(marks_path, OneCalendar(calendar), threads=False)
    if school not in result.tables:
        found = ", ".join(sorted(result.tables)) or "none"
        raise NotFoundError(f"school {school!r} has no marks in {marks_path} (schools: {found})")
    roster = None
    if roster_path is not None:
        rosters = read_roster(roster_path, set(result.tables), threads=False)
        roster = rosters.get(school, Roster(school))
    return _MarksSource(str(marks_path), result.tables[school], calendar, roster)


def _from_store(school: str) -> _MarksSource:
    from escalation_flow.settings import load_settings

    settings = load_settings()
    trust = root().trust(settings)
    school_id = trust.resolve_school(school)
    calendar = trust.calendar(school_id)
    with root().store(settings) as store:
        marks = store.load_marks(school_id, calendar)
        roster = store.load_roster(school_id)
    return _MarksSource("the database", marks, calendar, roster)


def _only(marks: MarkTable, pupil: str) -> MarkTable:
    """The rows of one pupil (the pupil is then index 0)."""
    rows = (
        np.flatnonzero(marks.pupil == marks.pupils.index(pupil))
        if pupil in marks.pupils
        else np.empty(0, dtype=np.intp)
    )
    return replace(marks.take(rows), pupils=(pupil,), pupil=np.zeros(rows.size, dtype=np.int32))


# -- arguments --------------------------------------------------------------------------------


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise InputError(
            "--known-at needs an ISO 8601 timestamp with an offset",
            [Problem("--known-at", None, None, f"{text!r}: e.g. 2025-10-01T18:00:00+01:00")],
        )
    return instant


def _school_day(calendar: SchoolCalendar, as_of: date) -> int:
    """The school day at whose end the facts are taken; a non-school day: the one before."""
    calendar.check_in_range(as_of)
    day = calendar.index_on_or_before(as_of)
    if day < 0:
        raise CalendarError(
            f"{as_of.isoformat()} is before the first school day of calendar {calendar.name} "
            f"({calendar.first_day.isoformat()})"
        )
    if calendar.school_days[day] != as_of:
        click.echo(
            f"note: {as_of.isoformat()} is not a school day; facts are as of the end of "
            f"{calendar.school_days[day].isoformat()}",
            err=True,
        )
    return day


def _note_unknown_recorded_at(marks: MarkTable, known_at: datetime | None, now: datetime) -> None:
    missing = int(np.count_nonzero(marks.recorded_at == UNKNOWN_RECORDED_AT))
    if missing and known_at is not None and known_at < now:
        click.echo(
            f"note: {missing} mark(s) have no recorded_at and count as recorded now "
            f"({now.isoformat(timespec='seconds')}); --known-at leaves them out",
            err=True,
        )


# -- the readable table -------------------------------------------------------------------------


def _table(
    source: _MarksSource,
    pupil: str,
    day: int,
    known_at: datetime | None,
    values: Mapping[str, float],
) -> str:
    as_of = source.calendar.school_days[day].isoformat()
    known = f"as known at {known_at.isoformat()}" if known_at else "every mark known"
    head = f"{pupil} at {source.marks.school}, end of {as_of} ({known}; {source.origin})"
    rows = [(name, _shown(name, value), REGISTER_FACTS[name]) for name, value in values.items()]
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(shown) for _, shown, _ in rows)
    lines = [head, ""]
    for name, shown, spec in rows:
        lines.append(
            f"{name:<{width}}  {shown:>{value_width}}  {spec.unit.value:<22}  {spec.description}"
        )
    return "\n".join(lines)


def _shown(name: str, value: float) -> str:
    if math.isnan(value):
        return "unknown"
    unit = REGISTER_FACTS[name].unit
    if unit in _WHOLE and value.is_integer():
        return str(int(value))
    return f"{value:.2f}" if unit in (Unit.PERCENT, Unit.PERCENTAGE_POINTS) else f"{value:.3f}"
