"""Register files: the marks CSV and the optional roster CSV (contract.md, "Register marks").

``read_marks`` is all or nothing: any bad row raises ``RegisterError`` listing every problem
(the first ``PROBLEM_LIMIT`` of them, with the full count), unless ``skip_invalid`` is set, in
which case the good rows are returned and the bad ones are listed in ``MarksRead.rejected``.
Parsing and checking are column-wise (see ``register_csv`` and ``register_checks``): a trust's
year of marks is millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from escalation_flow.adapters.csv_safety import excerpt, id_problem, write_rejected_rows
from escalation_flow.adapters.register_checks import BoolArray, Check, ParsedMarks, parse_marks
from escalation_flow.adapters.register_csv import CsvColumns, read_columns
from escalation_flow.adapters.register_versions import find_conflicts
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE
from escalation_flow.core.marks import MarkTable, PupilRecord, Roster
from escalation_flow.errors import Problem, RegisterError

MARK_COLUMNS = (
    "school", "pupil", "date", "session", "code", "minutes_late", "recorded_at", "recorded_by",
)  # fmt: skip
REQUIRED_MARK_COLUMNS = ("school", "pupil", "date", "session", "code")
ROSTER_COLUMNS = (
    "school",
    "pupil",
    "forename",
    "surname",
    "year_group",
    "date_of_birth",
    "admitted",
    "left",
)
#: Every roster column is required: an import overwrites each pupil's record, so a column left
#: out would blank that field for every pupil already known (a blank value is fine).
REQUIRED_ROSTER_COLUMNS = ROSTER_COLUMNS
#: How many problems an error lists; all of them are counted.
PROBLEM_LIMIT = 200
_TEXT = pa.dictionary(pa.int32(), pa.string())  # repetitive text: each distinct value once
_MARK_TYPES = {
    **{c: _TEXT for c in REQUIRED_MARK_COLUMNS},
    "minutes_late": pa.int16(),
    "recorded_at": pa.timestamp("us", "UTC"),
    "recorded_by": _TEXT,  # a school's few MIS users, on every row
}


@dataclass(frozen=True)
class RejectedRow:
    """A row left out by ``skip_invalid``: its line, its original fields, and why."""

    line: int
    values: dict[str, str]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MarksRead:
    """The good marks of one file, one ``MarkTable`` per school (keyed by the school's id)."""

    path: Path
    sha256: str
    header: tuple[str, ...]
    tables: dict[str, MarkTable]
    calendars: dict[str, SchoolCalendar]
    rows_read: int
    rejected: list[RejectedRow] = field(default_factory=list)
    #: Rows that repeat an earlier row exactly; dropped, since they say nothing new.
    duplicates: int = 0
    #: Odd ``recorded_at`` values kept because the caller asked to be warned, not refused.
    warnings: list[Problem] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(len(t) for t in self.tables.values())


def read_marks(
    path: Path,
    calendars: Mapping[str, SchoolCalendar],
    *,
    historic_mapping: Mapping[str, str] | None = None,
    skip_invalid: bool = False,
    aliases: Mapping[str, str] | None = None,
    now: datetime | None = None,
    odd_recorded_at: Literal["refuse", "warn"] = "refuse",
    threads: bool = True,
) -> MarksRead:
    """Read a register marks CSV; ``calendars`` is keyed by school id, ``aliases`` maps other
    names a file may use for a school (its URN) to that id. A missing ``recorded_at`` is
    ``core.marks.UNKNOWN_RECORDED_AT``: the caller decides what it means. The optional
    ``recorded_by`` (the MIS user) lands in ``MarkTable.recorded_by``; without it, None.

    A ``recorded_at`` before the mark's own day, or (given ``now``, the import's clock) more
    than a day after ``now``, is a problem of its row; ``odd_recorded_at="warn"`` keeps those
    rows and lists them in ``MarksRead.warnings`` instead. ``threads``: see ``read_columns``."""
    mapping = _checked_mapping(historic_mapping or {}, str(path))
    cols = read_columns(
        path, MARK_COLUMNS, REQUIRED_MARK_COLUMNS, RegisterError, _MARK_TYPES, threads
    )
    cols.release(table=False)  # the bytes: read again for the few messages that quote them
    parsed = parse_marks(cols, calendars, aliases or {}, mapping, now)
    cols.release()  # the table: the checks hold what their messages need
    odd = parsed.odd_recorded_at
    warned = odd if odd_recorded_at == "warn" else ()
    parsed_checks = parsed.checks if warned else (*parsed.checks, *odd)
    bad = np.zeros(cols.n_rows, dtype=bool)
    for check in parsed_checks:
        bad |= check.mask
    conflicts, duplicate = find_conflicts(parsed, ~bad, lambda row: int(cols.lines[row]))
    checks = (*parsed_checks, *conflicts)
    for conflict in conflicts:
        bad |= conflict.mask
    n_problems = sum(int(c.mask.sum()) for c in checks) + len(cols.malformed)
    rows_read = cols.n_rows + len(cols.malformed)
    if n_problems and not skip_invalid:
        n_bad_rows = int(bad.sum()) + len(cols.malformed)
        problems = _problems(cols, checks, np.flatnonzero(bad)[:PROBLEM_LIMIT])[:PROBLEM_LIMIT]
        shown = f"; the first {PROBLEM_LIMIT} are listed" if n_problems > PROBLEM_LIMIT else ""
        raise RegisterError(
            f"{path} has {n_problems} problem(s) in {n_bad_rows} of {rows_read} row(s){shown}",
            problems,
        )
    keep = ~bad & ~duplicate
    return MarksRead(
        path=path,
        sha256=cols.sha256,
        header=cols.header,
        tables=_tables(parsed, keep),
        calendars={s: calendars[s] for s in parsed.schools},
        rows_read=rows_read,
        rejected=_rejected(cols, checks, bad) if n_problems else [],
        duplicates=int(duplicate.sum()),
        warnings=_warnings(cols, warned, keep),
    )


class OneCalendar(Mapping[str, SchoolCalendar]):
    """``read_marks``'s calendars when one calendar serves whatever school the file names (a
    single-flow backtest, the ``facts`` command): every school id is a key, none is listed."""

    def __init__(self, calendar: SchoolCalendar) -> None:
        self._calendar = calendar

    def __getitem__(self, key: str) -> SchoolCalendar:
        return self._calendar

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _warnings(cols: CsvColumns, checks: tuple[Check, ...], keep: BoolArray) -> list[Problem]:
    rows = np.zeros(len(keep), dtype=bool)
    for check in checks:
        rows |= check.mask
    shown = np.flatnonzero(rows & keep)[:PROBLEM_LIMIT]
    return sorted(p for row in shown for p in _row_problems(cols, checks, int(row)))


def rejected_path(source: Path) -> Path:
    """Where the rejected rows of ``source`` go: beside it, ``marks.rejected.csv``."""
    return source.with_suffix(".rejected.csv")


def write_rejected(result: MarksRead, path: Path | None = None) -> Path:
    """Write the rejected rows (original columns, then ``line`` and ``reasons``) as CSV."""
    return write_rejected_rows(path or rejected_path(result.path), result.header, result.rejected)


def _checked_mapping(mapping: Mapping[str, str], f: str) -> dict[str, str]:
    problems = []
    for old, new in sorted(mapping.items()):
        if old in ID_OF_CODE:
            message = f"{old}={new}: {old!r} is a code in force; only old codes can be mapped"
            problems.append(Problem(f, None, "map-code", message))
        elif new not in ID_OF_CODE:
            message = f"{old}={new}: {new!r} is not a register code in force"
            problems.append(Problem(f, None, "map-code", message))
    if problems:
        raise RegisterError("the historic code mapping cannot be used", problems)
    return dict(mapping)


def _row_problems(cols: CsvColumns, checks: tuple[Check, ...], row: int) -> list[Problem]:
    line = int(cols.lines[row])
    return [Problem(cols.name, line, c.field, c.explain(row)) for c in checks if c.mask[row]]


def _problems(
    cols: CsvColumns, checks: tuple[Check, ...], rows: np.ndarray[tuple[int], np.dtype[np.int64]]
) -> list[Problem]:
    problems = [p for _, p in cols.malformed]
    for row in rows:
        problems.extend(_row_problems(cols, checks, int(row)))
    return sorted(problems)


def _rejected(cols: CsvColumns, checks: tuple[Check, ...], bad: BoolArray) -> list[RejectedRow]:
    reasons: dict[int, list[str]] = {}
    for line, problem in cols.malformed:
        reasons.setdefault(line, []).append(problem.message)
    for row in np.flatnonzero(bad):
        for p in _row_problems(cols, checks, int(row)):
            assert p.line is not None
            reasons.setdefault(p.line, []).append(f"{p.field}: {p.message}")
    originals = cols.raw_rows(sorted(reasons))
    return [
        RejectedRow(line, originals[line], tuple(messages))
        for line, messages in sorted(reasons.items())
    ]


def _tables(parsed: ParsedMarks, keep: BoolArray) -> dict[str, MarkTable]:
    kept = np.flatnonzero(keep)
    school_of = parsed.school[kept]
    # Each school's rows in file order, from one stable sort by school (not a pass over every
    # row per school).
    by_school = kept[np.argsort(school_of, kind="stable")]
    ends = np.cumsum(np.bincount(school_of, minlength=len(parsed.schools)))
    tables: dict[str, MarkTable] = {}
    for k, school in enumerate(parsed.schools):
        rows = by_school[ends[k - 1] if k else 0 : ends[k]]
        if not len(rows):
            continue
        # Pupils in order of first appearance in the file (pupil indices are in that order).
        local, inverse = _renumbered(parsed.pupil[rows], len(parsed.pupils))
        recorded_by, recorders = _recorders(parsed, rows)
        tables[school] = MarkTable(
            school=school,
            pupils=tuple(parsed.pupils[i] for i in local),
            pupil=inverse.astype(np.int32, copy=False),
            session=parsed.session[rows].astype(np.int32, copy=False),
            code=parsed.code[rows].astype(np.int8, copy=False),
            recorded_at=parsed.recorded_at[rows].astype(np.int64, copy=False),
            minutes_late=parsed.minutes_late[rows].astype(np.int16, copy=False),
            recorded_by=recorded_by,
            recorders=recorders,
        )
    return tables


def _renumbered(
    ids: npt.NDArray[np.int32], n: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """``np.unique(ids, return_inverse=True)`` for ids below ``n``, without its sort: the ids
    present, ascending, and each row's position among them."""
    present = np.zeros(n, dtype=bool)
    present[ids] = True
    local = np.flatnonzero(present)
    position = np.cumsum(present, dtype=np.intp) - 1
    return local, position[ids]


def _recorders(
    parsed: ParsedMarks, rows: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int32] | None, tuple[str, ...]]:
    """The MIS users named by ``rows`` (a school's), re-indexed to just those; (None, ()) when
    no row names anyone."""
    if parsed.recorded_by is None:
        return None, ()
    ids = parsed.recorded_by[rows]
    # Shifted by one so that -1 (unknown) counts in slot 0 and indexes like the rest.
    used = np.flatnonzero(np.bincount(ids + 1, minlength=len(parsed.recorders) + 1)[1:])
    if not len(used):
        return None, ()
    remap = np.full(len(parsed.recorders) + 1, -1, dtype=np.int32)
    remap[used + 1] = np.arange(len(used), dtype=np.int32)
    return remap[ids + 1], tuple(parsed.recorders[i] for i in used)


# -- the roster -------------------------------------------------------------------------------


def read_roster(
    path: Path,
    schools: set[str],
    *,
    aliases: Mapping[str, str] | None = None,
    threads: bool = True,
) -> dict[str, Roster]:
    """Read the optional roster CSV: one row per pupil; every problem is reported at once."""
    cols = read_columns(
        path, ROSTER_COLUMNS, REQUIRED_ROSTER_COLUMNS, RegisterError, threads=threads
    )
    f = cols.name
    problems = [p for _, p in cols.malformed]
    data = {name: cols.table.column(name).to_pylist() for name in cols.table.column_names}
    rosters: dict[str, Roster] = {}
    seen: dict[tuple[str, str], int] = {}
    for row, line in enumerate(cols.lines.tolist()):
        value = {c: str(data[c][row]).strip() if c in data else "" for c in ROSTER_COLUMNS}
        found: list[Problem] = []
        school = (
            value["school"] if value["school"] in schools else (aliases or {}).get(value["school"])
        )
        if school is None:
            known = ", ".join(sorted(schools))
            found.append(
                Problem(
                    f,
                    line,
                    "school",
                    f"{excerpt(value['school'])} is not a school of this trust ({known})",
                )
            )
        pupil_problem = id_problem(value["pupil"])
        if pupil_problem is not None:
            found.append(Problem(f, line, "pupil", pupil_problem))
        dates = {c: _roster_date(value[c], f, line, c, found) for c in ROSTER_COLUMNS[5:]}
        admitted, left = dates["admitted"], dates["left"]
        if admitted and left and left < admitted:
            found.append(Problem(f, line, "left", f"{left} is before admitted ({admitted})"))
        if school and pupil_problem is None:
            first = seen.setdefault((school, value["pupil"]), line)
            if first != line:
                found.append(
                    Problem(
                        f, line, "pupil", f"{excerpt(value['pupil'])} is already on line {first}"
                    )
                )
        problems.extend(found)
        if found or school is None:
            continue
        record = PupilRecord(
            school=school,
            pupil=value["pupil"],
            forename=value["forename"],
            surname=value["surname"],
            year_group=value["year_group"],
            date_of_birth=dates["date_of_birth"],
            admitted=admitted,
            left=left,
        )
        rosters.setdefault(school, Roster(school)).pupils[record.pupil] = record
    if problems:
        raise RegisterError(f"{f} has {len(problems)} problem(s)", sorted(problems)[:PROBLEM_LIMIT])
    return rosters


def _roster_date(value: str, f: str, line: int, column: str, found: list[Problem]) -> date | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    found.append(Problem(f, line, column, f"{excerpt(value)} is not a date (YYYY-MM-DD)"))
    return None
