"""Vectorised checks of register mark columns.

Each column is dictionary-encoded, so a value is checked once however many rows hold it, and a
row's result is a lookup. A ``Check`` holds a mask of the rows that fail it and a function that
words the problem for one row; messages are only built for the rows someone will read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from escalation_flow.adapters.csv_safety import EXCERPT_CHARS, excerpt, id_problem
from escalation_flow.adapters.register_csv import CsvColumns, encode
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID, LATE_IDS, UnknownCodeError, code_id
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, to_micros
from escalation_flow.errors import CalendarError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$"
_BAD = -1
_MAX_MINUTES = int(np.iinfo(np.int16).max)
#: The longest MIS user name kept (the store's column is this wide).
MAX_RECORDED_BY = 100
#: A mark recorded before its own day began, with this much slack for the school's zone
#: (England is at most an hour ahead of UTC), cannot be: the register had not been taken.
_BEFORE_ITS_DAY = timedelta(hours=1)
#: How far past the import's clock a ``recorded_at`` may be (MIS and server clocks drift).
FUTURE_SLACK = timedelta(days=1)

IntArray = npt.NDArray[np.signedinteger[Any]]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Check:
    """The rows failing one rule, and how to word the failure for one row."""

    field: str | None
    mask: BoolArray
    explain: Callable[[int], str]


@dataclass(frozen=True)
class ParsedMarks:
    """Every row's values as numbers (-1 where the value is bad) and the checks that failed."""

    schools: tuple[str, ...]  # canonical school ids; ``school`` indexes into this
    school: IntArray  # int32
    pupils: tuple[str, ...]  # distinct pupil ids, in order of first appearance
    pupil: IntArray  # int32
    session: IntArray  # int32: session index on the school's calendar
    code: IntArray  # int8
    minutes_late: IntArray  # int16, -1 where not given
    recorded_at: IntArray  # int64
    checks: tuple[Check, ...]
    #: Who recorded each row in the MIS: an index into ``recorders``, -1 unknown; None when the
    #: file has no ``recorded_by`` column.
    recorded_by: IntArray | None = None  # int32
    recorders: tuple[str, ...] = ()
    #: ``recorded_at`` values that cannot be right (before the mark's day, far in the future):
    #: problems of their rows unless the caller asked only to be warned.
    odd_recorded_at: tuple[Check, ...] = ()


def parse_marks(
    cols: CsvColumns,
    calendars: Mapping[str, SchoolCalendar],
    aliases: Mapping[str, str],
    mapping: Mapping[str, str],
    now: datetime | None = None,
) -> ParsedMarks:
    """Every column parsed and checked; ``now`` (the import's clock) also refuses a
    ``recorded_at`` far past it."""
    n = cols.table.num_rows
    school, schools, school_check = _schools(_required(cols, "school"), calendars, aliases)
    pupil, pupils, pupil_check = _pupils(_required(cols, "pupil"))
    day, day_start, date_checks = _days(
        _required(cols, "date"), school, [calendars[s] for s in schools]
    )
    half, session_check = _sessions(_required(cols, "session"))
    code, code_check = _codes(_required(cols, "code"), mapping)
    minutes, minute_checks = _minutes(cols.column("minutes_late"), code, n)
    recorded, recorded_check = _recorded_at(cols.column("recorded_at"), n)
    by, recorders, by_check = _recorded_by(cols.column("recorded_by"), n)
    session = 2 * day + half
    session[(day < 0) | (half < 0)] = _BAD
    return ParsedMarks(
        schools=tuple(schools),
        school=school,
        pupils=tuple(pupils),
        pupil=pupil,
        session=session,
        code=code,
        minutes_late=minutes,
        recorded_at=recorded,
        checks=(
            school_check,
            pupil_check,
            *date_checks,
            session_check,
            code_check,
            *minute_checks,
            recorded_check,
            by_check,
        ),
        recorded_by=by,
        recorders=recorders,
        odd_recorded_at=_odd_recorded_at(recorded, day_start, now),
    )


def _required(cols: CsvColumns, name: str) -> pa.ChunkedArray:
    column = cols.column(name)
    assert column is not None, name  # the header check makes every required column present
    return column


def _lookup(table: npt.NDArray[Any], indices: IntArray) -> npt.NDArray[Any]:
    if not len(table):
        return np.zeros(len(indices), dtype=table.dtype)
    return np.take(table, indices)


def _none(n: int) -> BoolArray:
    return np.zeros(n, dtype=bool)


def _pupils(column: pa.ChunkedArray) -> tuple[IntArray, list[str], Check]:
    """Pupil ids, each distinct one checked once: they become file names and spreadsheet cells."""
    pupil, pupils = encode(column)
    reasons = [id_problem(p) for p in pupils]
    bad = _lookup(np.array([r is not None for r in reasons], dtype=bool), pupil)
    return pupil, pupils, Check("pupil", bad, lambda row: reasons[int(pupil[row])] or "")


def _schools(
    column: pa.ChunkedArray, calendars: Mapping[str, SchoolCalendar], aliases: Mapping[str, str]
) -> tuple[IntArray, list[str], Check]:
    idx, values = encode(column)
    canonical = [v if v in calendars else aliases.get(v) for v in values]
    schools = sorted({c for c in canonical if c is not None and c in calendars})
    position = {s: i for i, s in enumerate(schools)}
    table = np.array([position.get(c, _BAD) if c else _BAD for c in canonical], dtype=np.int32)
    school = _lookup(table, idx)
    known = ", ".join(sorted(calendars))

    def explain(row: int) -> str:
        value = values[idx[row]]
        return (
            "is empty" if not value else f"{excerpt(value)} is not a school of this trust ({known})"
        )

    return school, schools, Check("school", school < 0, explain)


def _days(
    column: pa.ChunkedArray, school: IntArray, calendars: list[SchoolCalendar]
) -> tuple[IntArray, IntArray, tuple[Check, Check]]:
    """Each row's day index, the instant its day began (less the zone's slack; the lowest
    int64 for a bad date), and the date checks."""
    idx, values = encode(column)
    parsed = [_parse_date(v) for v in values]
    starts = np.array(
        [UNKNOWN_RECORDED_AT if d is None else _day_start(d) for d in parsed], dtype=np.int64
    )
    day_start = _lookup(starts, idx)
    # One table of (school, distinct date) -> day index: a handful of schools by a few hundred
    # dates; -2 marks a value that is no date at all.
    width = max(len(values), 1)
    table = np.full((len(calendars) + 1, width), _BAD, dtype=np.int32)
    for j, d in enumerate(parsed):
        if d is None:
            table[:, j] = -2
            continue
        for k, calendar in enumerate(calendars):
            if calendar.is_school_day(d):
                table[k, j] = calendar.day_index(d)
    # Rows of unknown schools look up the last line of the table (bad, but not "not a day").
    flat = np.where(school >= 0, school, len(calendars)).astype(np.int64) * width + idx
    day = np.take(table.ravel(), flat) if len(flat) else np.zeros(0, dtype=np.int32)
    malformed = day == -2
    not_school_day = (day == _BAD) & (school >= 0)

    def explain_malformed(row: int) -> str:
        return f"{excerpt(values[idx[row]])} is not a date (YYYY-MM-DD)"

    def explain_day(row: int) -> str:
        d = parsed[idx[row]]
        assert d is not None
        try:
            calendars[school[row]].day_index(d)
        except CalendarError as exc:
            return exc.summary
        return f"{d} is not a school day"  # pragma: no cover - the mask says it is not

    day[day < 0] = _BAD
    return (
        day,
        day_start,
        (
            Check("date", malformed, explain_malformed),
            Check("date", not_school_day, explain_day),
        ),
    )


def _day_start(d: date) -> int:
    return to_micros(datetime.combine(d, datetime.min.time(), tzinfo=UTC) - _BEFORE_ITS_DAY)


def _odd_recorded_at(
    recorded: IntArray, day_start: IntArray, now: datetime | None
) -> tuple[Check, ...]:
    given = recorded != UNKNOWN_RECORDED_AT
    before = given & (day_start != UNKNOWN_RECORDED_AT) & (recorded < day_start)

    def shown(row: int) -> str:
        return datetime.fromtimestamp(int(recorded[row]) / 1e6, UTC).isoformat()

    def explain_before(row: int) -> str:
        return f"{shown(row)} is before the mark's own day: the register was not taken yet"

    checks = [Check("recorded_at", before, explain_before)]
    if now is not None:
        limit = to_micros(now + FUTURE_SLACK)
        future = given & (recorded > limit)

        def explain_future(row: int) -> str:
            return f"{shown(row)} is more than a day after this import ({now.isoformat()})"

        checks.append(Check("recorded_at", future, explain_future))
    return tuple(checks)


def _parse_date(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _sessions(column: pa.ChunkedArray) -> tuple[IntArray, Check]:
    idx, values = encode(column)
    table = np.array([{"AM": 0, "PM": 1}.get(v, _BAD) for v in values], dtype=np.int8)
    half = _lookup(table, idx)

    def explain(row: int) -> str:
        return f"{excerpt(values[idx[row]])} is not AM or PM"

    return half, Check("session", half < 0, explain)


def _codes(column: pa.ChunkedArray, mapping: Mapping[str, str]) -> tuple[IntArray, Check]:
    idx, values = encode(column)
    ids: list[int] = []
    reasons: dict[int, str] = {}
    for j, value in enumerate(values):
        try:
            ids.append(code_id(value, mapping))
        except UnknownCodeError as exc:
            ids.append(_BAD)
            # the library's message quotes the value whole: fine for a code, not for a 2 MB field
            reasons[j] = (
                str(exc)
                if len(value) <= EXCERPT_CHARS
                else f"{excerpt(value)} is not a register code"
            )
    code = _lookup(np.array(ids, dtype=np.int8), idx)
    return code, Check("code", code < 0, lambda row: reasons[int(idx[row])])


def _minutes(
    column: pa.ChunkedArray | None, code: IntArray, n: int
) -> tuple[IntArray, tuple[Check, Check]]:
    if column is None:
        return np.full(n, -1, dtype=np.int16), (
            Check("minutes_late", _none(n), str),
            Check("minutes_late", _none(n), str),
        )
    if pa.types.is_integer(column.type):  # read typed: every value was a whole number
        given = ~column.is_null().to_numpy(zero_copy_only=False)
        values = column.fill_null(0).to_numpy().astype(np.int16)
        malformed = given & (values < 0)
        minutes = np.where(given & ~malformed, values, -1).astype(np.int16)

        def text(row: int) -> str:
            return str(values[row])
    else:
        idx, strings = encode(column)
        minutes = _lookup(np.array([_parse_minutes(v) for v in strings], dtype=np.int16), idx)
        malformed = minutes == -2
        minutes[malformed] = -1

        def text(row: int) -> str:
            return str(strings[idx[row]])

    wrong_code = (minutes >= 0) & (code >= 0) & ~np.isin(code, sorted(LATE_IDS))

    def explain_malformed(row: int) -> str:
        return f"{excerpt(text(row))} is not a whole number of minutes (0 to {_MAX_MINUTES})"

    def explain_code(row: int) -> str:
        return (
            f"{excerpt(text(row))} is given for code {CODE_OF_ID[code[row]]!r}; "
            "only L and U take minutes late"
        )

    return minutes, (
        Check("minutes_late", malformed, explain_malformed),
        Check("minutes_late", wrong_code, explain_code),
    )


def _parse_minutes(value: str) -> int:
    if value == "":
        return -1
    if value.isascii() and value.isdigit() and int(value) <= _MAX_MINUTES:
        return int(value)
    return -2


def _recorded_by(
    column: pa.ChunkedArray | None, n: int
) -> tuple[IntArray | None, tuple[str, ...], Check]:
    """Each row's MIS user as an index into the distinct names (blank: -1, unknown). A name
    is checked once however many rows carry it."""
    if column is None:
        return None, (), Check("recorded_by", _none(n), str)
    idx, values = encode(column)
    names = [v for v in values if v and len(v) <= MAX_RECORDED_BY]
    position = {name: i for i, name in enumerate(names)}
    # -1: blank (unknown); -2: too long (a problem, then unknown).
    table = np.array([position.get(v, -2 if v else _BAD) for v in values], dtype=np.int32)
    by = _lookup(table, idx)
    too_long = by == -2
    by[too_long] = _BAD

    def explain(row: int) -> str:
        value = values[idx[row]]
        return f"{excerpt(value)} is {len(value)} characters long (at most {MAX_RECORDED_BY})"

    return by, tuple(names), Check("recorded_by", too_long, explain)


def _recorded_at(column: pa.ChunkedArray | None, n: int) -> tuple[IntArray, Check]:
    fine = Check("recorded_at", _none(n), str)
    if column is None:
        return np.full(n, UNKNOWN_RECORDED_AT, dtype=np.int64), fine
    if pa.types.is_timestamp(column.type):  # read typed: every value had an offset
        return _to_micros(column), fine
    text = pc.utf8_trim_whitespace(column)
    given = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        return _to_micros(given), fine
    except pa.ArrowInvalid:
        pass
    # Slow path, only for a file with bad timestamps: find them, then convert the rest.
    shaped = pc.match_substring_regex(given, _INSTANT)
    values = given.to_pylist()
    try:
        micros = _to_micros(pc.if_else(shaped, given, pa.scalar(None, pa.string())))
        bad = ~shaped.fill_null(True).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        converted = [_parse_instant(v) for v in values]
        micros = np.array([c if isinstance(c, int) else 0 for c in converted], dtype=np.int64)
        bad = np.array([isinstance(c, str) for c in converted], dtype=bool)

    def explain(row: int) -> str:
        reason = _parse_instant(values[row])
        return reason if isinstance(reason, str) else "is not ISO 8601 with an offset"

    micros = np.where(bad, UNKNOWN_RECORDED_AT, micros)
    return micros, Check("recorded_at", bad, explain)


def _to_micros(values: pa.ChunkedArray) -> IntArray:
    instants = pc.cast(values, pa.timestamp("us", "UTC")).cast(pa.int64())
    if instants.null_count:
        instants = instants.fill_null(UNKNOWN_RECORDED_AT)
    return np.asarray(instants.to_numpy(), dtype=np.int64)


def _parse_instant(value: str | None) -> int | str:
    """Microseconds since the epoch, or why ``value`` is not an ISO 8601 instant with offset."""
    if value is None:
        return int(UNKNOWN_RECORDED_AT)
    example = "e.g. 2025-09-03T09:05:00+01:00"
    if not re.fullmatch(_INSTANT, value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return f"{excerpt(value)} is not an ISO 8601 timestamp with an offset ({example})"
        if parsed.tzinfo is None:
            return f"{excerpt(value)} has no UTC offset ({example})"
        return f"{excerpt(value)} is not an ISO 8601 timestamp with an offset ({example})"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"{excerpt(value)} is not a valid timestamp ({example})"
    return to_micros(parsed)
