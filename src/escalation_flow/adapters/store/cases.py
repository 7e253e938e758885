"""Reading cases back: a school's cases for a day's evaluation, one case's history, tasks, timers.

A case is loaded from its snapshot when the snapshot is as long as the history, else by
folding its history records (``core.case.fold`` over ``decision_from_event``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select, text

from escalation_flow.adapters.store.case_models import (
    CaseEventRow,
    CaseRow,
    LetterRow,
    SchoolDayRow,
    TaskRow,
    TimerRow,
)
from escalation_flow.adapters.store.models import School, table_of
from escalation_flow.adapters.store.snapshots import case_from_json
from escalation_flow.core.case import Case, fold
from escalation_flow.errors import NotFoundError
from escalation_flow.stored import HistoryRow, StoredCase

if TYPE_CHECKING:
    from escalation_flow.adapters.store.kept_cases import CaseMemory

CASES = table_of(CaseRow)
EVENTS = table_of(CaseEventRow)
TASKS = table_of(TaskRow)
TIMERS = table_of(TimerRow)
LETTERS = table_of(LetterRow)
SCHOOL_DAYS = table_of(SchoolDayRow)
SCHOOLS = table_of(School)






def school_ids(conn: Connection) -> dict[str, int]:
    return {key: sid for key, sid in conn.execute(select(SCHOOLS.c.key, SCHOOLS.c.id))}


def school_id(conn: Connection, school: str) -> int:
    found = conn.execute(select(SCHOOLS.c.id).where(SCHOOLS.c.key == school)).scalar()
    if found is None:
        raise NotFoundError(f"school {school!r} is not in the store; import its marks first")
    return int(found)


def load_cases(
    conn: Connection,
    school_id: int,
    school: str,
    pupils: Collection[str] | None = None,
    *,
    status: str | None = None,
    kept: CaseMemory | None = None,
) -> dict[str, StoredCase]:
    """The case rows of a school (or of ``pupils``; with ``status``: only open or closed), by
    pupil; ``kept``: cases kept in memory, taken where the row holds the same history and
    kept with it where decoded (``kept_cases``)."""
    c = CASES.c
    columns = [c.id, c.pupil, c.length, c.head_hash]
    # with cases kept, the snapshots are read only for the rows whose case is not
    query = select(*columns) if kept is not None else select(*columns, c.snapshot)
    query = query.where(c.school_id == school_id)
    if pupils is not None:
        query = query.where(c.pupil.in_(list(pupils)))
    if status is not None:
        query = query.where(c.status == status)
    out: dict[str, StoredCase] = {}
    stale: list[Any] = []
    rows: list[Any] = list(conn.execute(query))
    if kept is not None:
        rows = _kept_or_read(conn, rows, school, kept, out)
    for row in rows:
        case = case_from_json(row.snapshot, school, row.pupil) if row.snapshot else None
        if case is None or case.length != row.length:
            stale.append(row)
            continue
        out[row.pupil] = StoredCase(row.id, case, row.head_hash)
    for row in stale:
        out[row.pupil] = StoredCase(
            row.id, fold_case(conn, row.id, school, row.pupil), row.head_hash
        )
    if kept is not None:
        for row in rows:
            held = out[row.pupil]
            kept.put(held.id or row.id, held.head_hash, held.case)
    return out


def _kept_or_read(
    conn: Connection, rows: list[Any], school: str, kept: CaseMemory, out: dict[str, StoredCase]
) -> list[Any]:
    """Rows (without snapshots) whose case is kept go into ``out``; the others are read again
    with their snapshots, a statement for every few hundred."""
    missing: list[int] = []
    for row in rows:
        case = kept.get(row.id, row.length, row.head_hash, school, row.pupil)
        if case is None:
            missing.append(row.id)
        else:
            out[row.pupil] = StoredCase(row.id, case, row.head_hash)
    c = CASES.c
    read: list[Any] = []
    for start in range(0, len(missing), _IDS_A_QUERY):
        query = select(c.id, c.pupil, c.length, c.head_hash, c.snapshot).where(
            c.id.in_(missing[start : start + _IDS_A_QUERY])
        )
        read += conn.execute(query)
    return read


def pupils_with_cases(conn: Connection, school_id: int, status: str) -> set[str]:
    c = CASES.c
    query = select(c.pupil).where(c.school_id == school_id, c.status == status)
    return set(conn.execute(query).scalars())


def load_case(conn: Connection, school_id: int, school: str, pupil: str) -> StoredCase:
    """The pupil's case (an empty one, without a row id, when the pupil never had one)."""
    found = load_cases(conn, school_id, school, [pupil])
    return found.get(pupil) or StoredCase(None, Case(school=school, pupil=pupil))


def history(conn: Connection, case_id: int, since_seq: int = 0) -> list[HistoryRow]:
    e = EVENTS.c
    query = (
        select(
            e.seq, e.on, e.at, e.type, e.body, e.flow_version, e.actor, e.recorded_at,
            e.prev_hash, e.hash,
        )
        .where(e.case_id == case_id, e.seq > since_seq)
        .order_by(e.seq)
    )  # fmt: skip
    return [HistoryRow(**row._asdict()) for row in conn.execute(query)]


#: Case ids a statement asks for at most (SQLite's limit on bound values is far above).
_IDS_A_QUERY = 500

#: The ``case_events`` columns of a history row, in order (read here, copied by the writer).
EVENT_COLUMNS = (
    "case_id", "seq", "on", "at", "type", "body", "flow_version", "actor", "recorded_at",
    "prev_hash", "hash",
)  # fmt: skip

#: PostgreSQL: each case's rows by its own index lookup (``case_id = w.id``, kept apart from the
#: join by its ORDER BY). ``case_id IN (...)`` over a table with no statistics yet (a new
#: store, a server without autovacuum) was planned as a parallel scan of every history record,
#: a tenth of a second a school day's letters per school on the benchmark trust.
_HISTORIES_PG_TEXT = (
    'SELECT e.case_id, e.seq, e."on", e.at, e.type, e.body, e.flow_version, e.actor, '
    "e.recorded_at, e.prev_hash, e.hash "
    "FROM unnest(CAST(:ids AS integer[])) AS w(id) CROSS JOIN LATERAL "
    "(SELECT * FROM case_events WHERE case_id = w.id{} ORDER BY seq) AS e"
)
_HISTORIES_PG = text(_HISTORIES_PG_TEXT.format("")).columns(*(EVENTS.c[c] for c in EVENT_COLUMNS))
#: the same, only the rows of some record types
_HISTORIES_PG_OF_TYPES = text(
    _HISTORIES_PG_TEXT.format(" AND type = ANY(CAST(:types AS text[]))")
).columns(*(EVENTS.c[c] for c in EVENT_COLUMNS))


def histories(
    conn: Connection, case_ids: Collection[int], types: Collection[str] | None = None
) -> dict[int, list[HistoryRow]]:
    """``history`` of each case, a statement for every few hundred cases instead of one each
    (a school day's letters read their cases' histories: issue 13); ``types``: only the rows
    of these record types, in the same order (a day's letters read only the task records,
    half of a history's rows)."""
    wanted = sorted(set(case_ids))
    kinds = None if types is None else sorted(set(types))
    out: dict[int, list[HistoryRow]] = {}
    if kinds is not None and not kinds:
        return out
    if conn.dialect.name == "postgresql" and wanted:
        # fetched at once, fields by position (``EVENT_COLUMNS`` after ``case_id`` are
        # ``HistoryRow``'s): a day's letters read tens of thousands of rows, and a row's fetch
        # and ``_asdict`` cost more than building it
        if kinds is None:
            rows = conn.execute(_HISTORIES_PG, {"ids": wanted})
        else:
            rows = conn.execute(_HISTORIES_PG_OF_TYPES, {"ids": wanted, "types": kinds})
        for case_id, *values in rows.all():
            out.setdefault(int(case_id), []).append(HistoryRow(*values))
        return out
    if conn.dialect.name == "sqlite":
        return _histories_sqlite(conn, wanted, kinds)
    return _histories_selected(conn, wanted, kinds)


def _histories_selected(
    conn: Connection, wanted: Sequence[int], kinds: Sequence[str] | None = None
) -> dict[int, list[HistoryRow]]:
    """``histories`` through the table's column types, a statement per ``_IDS_A_QUERY``."""
    e = EVENTS.c
    out: dict[int, list[HistoryRow]] = {}
    for start in range(0, len(wanted), _IDS_A_QUERY):
        query = (
            select(
                e.case_id, e.seq, e.on, e.at, e.type, e.body, e.flow_version, e.actor,
                e.recorded_at, e.prev_hash, e.hash,
            )
            .where(e.case_id.in_(wanted[start : start + _IDS_A_QUERY]))
            .order_by(e.case_id, e.seq)
        )  # fmt: skip
        if kinds is not None:
            query = query.where(e.type.in_(kinds))
        for row in conn.execute(query):
            fields = row._asdict()
            out.setdefault(int(fields.pop("case_id")), []).append(HistoryRow(**fields))
    return out


_HISTORIES_SQLITE = (
    'SELECT case_id, seq, "on", at, type, body, flow_version, actor, recorded_at, prev_hash, '
    "hash FROM case_events WHERE case_id IN ({}){} ORDER BY case_id, seq"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _histories_sqlite(
    conn: Connection, wanted: Sequence[int], kinds: Sequence[str] | None = None
) -> dict[int, list[HistoryRow]]:
    """``histories`` on SQLite, the columns turned into values here as their column types
    would (a day's letters read about twenty thousand rows, and the types' processing per
    value was most of it): the day's text as ISO, an instant as microseconds since the epoch
    (``UtcDateTime``)."""
    out: dict[int, list[HistoryRow]] = {}
    day, epoch, micros = date.fromisoformat, _EPOCH, timedelta
    of_types = "" if kinds is None else f" AND type IN ({','.join('?' * len(kinds))})"
    for start in range(0, len(wanted), _IDS_A_QUERY):
        ids = tuple(wanted[start : start + _IDS_A_QUERY])
        statement = _HISTORIES_SQLITE.format(",".join("?" * len(ids)), of_types)
        for case_id, seq, on, at, kind, body, version, actor, recorded, prev, digest in (
            conn.exec_driver_sql(statement, (*ids, *(kinds or ())))
        ):
            row = HistoryRow(
                seq, day(on), epoch + micros(microseconds=at), kind, body, version, actor,
                epoch + micros(microseconds=recorded), prev, digest,
            )  # fmt: skip
            out.setdefault(case_id, []).append(row)
    return out


def fold_case(conn: Connection, case_id: int, school: str, pupil: str) -> Case:
    return fold(school, pupil, (r.decision() for r in history(conn, case_id)))


def case_row(conn: Connection, school_id: int, pupil: str) -> Row[Any] | None:
    c = CASES.c
    query = select(CASES).where(c.school_id == school_id, c.pupil == pupil)
    return conn.execute(query).first()


def task_row(conn: Connection, task_id: int) -> Row[Any]:
    row = conn.execute(select(TASKS).where(TASKS.c.id == task_id)).first()
    if row is None:
        raise NotFoundError(f"no task {task_id}")
    return row


def letter_row(conn: Connection, letter_id: int) -> Row[Any]:
    row = conn.execute(select(LETTERS).where(LETTERS.c.id == letter_id)).first()
    if row is None:
        raise NotFoundError(f"no letter {letter_id}")
    return row


def letter_of_task(conn: Connection, task_id: int) -> Row[Any] | None:
    return conn.execute(select(LETTERS).where(LETTERS.c.task_id == task_id)).first()


def last_evaluation(conn: Connection, school_id: int) -> Row[Any] | None:
    """The school's most recently written ``school_days`` row."""
    s = SCHOOL_DAYS.c
    query = (
        select(SCHOOL_DAYS)
        .where(s.school_id == school_id)
        .order_by(s.evaluated_at.desc(), s.day.desc())
        .limit(1)
    )
    return conn.execute(query).first()


def evaluated_days(conn: Connection, school_id: int) -> dict[date, datetime]:
    """Each school day the school was evaluated on, with when (the latest run, if forced)."""
    s = SCHOOL_DAYS.c
    query = select(s.day, s.evaluated_at).where(s.school_id == school_id).order_by(s.day)
    return {row.day: row.evaluated_at for row in conn.execute(query)}


def evaluated(conn: Connection, school_id: int, day: date) -> Row[Any] | None:
    s = SCHOOL_DAYS.c
    return conn.execute(select(SCHOOL_DAYS).where(s.school_id == school_id, s.day == day)).first()


def open_tasks(
    conn: Connection,
    school_ids: Sequence[int] | None,
    role: str | None,
    due_by: date | None,
    include_universal: bool,
) -> list[Row[Any]]:
    t = TASKS.c
    query = (
        select(
            TASKS,
            SCHOOLS.c.key.label("school"),
            LETTERS.c.id.label("letter_id"),
            LETTERS.c.status.label("letter_status"),
        )
        .join(SCHOOLS, SCHOOLS.c.id == t.school_id)
        .outerjoin(LETTERS, LETTERS.c.task_id == t.id)
        .where(t.status == "open")
    )
    if school_ids is not None:
        query = query.where(t.school_id.in_(list(school_ids)))
    if role is not None:
        query = query.where(t.role == role)
    if due_by is not None:
        query = query.where(t.due <= due_by)
    if not include_universal:
        query = query.where(t.case_id.is_not(None))
    return list(conn.execute(query.order_by(t.due, SCHOOLS.c.key, t.pupil, t.id)))


def case_tasks(conn: Connection, case_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(TASKS).where(TASKS.c.case_id == case_id).order_by(TASKS.c.id)))


def case_timers(conn: Connection, case_id: int) -> list[Row[Any]]:
    query = select(TIMERS).where(TIMERS.c.case_id == case_id).order_by(TIMERS.c.id)
    return list(conn.execute(query))
