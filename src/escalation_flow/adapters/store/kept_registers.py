"""Schools' stored marks kept in memory between reads: a long-running daemon's registers (issue 13).

Reading a school's marks back (ADBC or ``COPY``, then decoding) was about 85% of reading its
register, and the daemon read every school's whole year again each evening and for each burst
of timers. ``RegisterMemory`` keeps each school's decoded rows with the imports they came from;
a later read asks the store only for rows of imports it has not seen (one statement, so an
import, committed whole, is seen whole or not at all) and merges them in the store's load order
(``marks_io.load_sql``: pupil, date, session, recorded_at, code). The ``MarkTable`` handed on is
then the one a full read gives, row for row, so the register, its facts and every decision are
the same. An amendment to an earlier day is a new row of a new import like any other; nothing
is patched in place.

An import made through the same store (the daemon's inbox) hands its rows over as it commits
(``RegisterMemory.add_import``) when every row of a school was new, so that the evening after
it asks the store for nothing: without an index on ``import_id`` (none is kept: it would slow
every import) the store finds an import's rows by reading every row of the school, which was
a quarter of the trust's evening. A school whose rows were not all new (some already stored, a
row repeating its session's current mark) is left to that read.

Marks are never updated or deleted by the service (``models.Mark``); a row edited behind its
back is what ``audit verify`` names, and a restarted daemon reads afresh.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from escalation_flow.adapters.store.mark_texts import LOADED_SCHEMA, load_sql, mark_parts
from escalation_flow.adapters.store.pg_arrays import int_array
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID, ID_OF_CODE, UNMARKED_CODE, UNMARKED_ID
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, MarkTable
from escalation_flow.errors import CalendarError

if TYPE_CHECKING:
    from escalation_flow.adapters.store.register_snapshots import Candidate, RegisterSnapshots

#: The rows a kept read asks for: the load's columns and the import each row came from.
KEPT_SCHEMA = LOADED_SCHEMA.append(pa.field("import_id", pa.int64()))

#: For each code id, its rank among the codes' texts in byte order (the store's ORDER BY code).
_CODE_RANK = np.argsort(np.argsort(np.array(CODE_OF_ID, dtype=object), kind="stable")).astype(
    np.int16
)

CalendarKey = tuple[str, str, date, date, str]


def calendar_key(calendar: SchoolCalendar) -> CalendarKey:
    """Kept rows are decoded on one calendar: another (a changed trust file) reads afresh. A
    kept row's session is counted in the calendar's school days, and its ``version`` names
    only the calendar files, not the bank holidays folded in from the ``holidays`` library
    (an upgrade of it can add a day, moving every later session): the key holds a digest of
    the school days too (a register file written before such a change is rejected)."""
    days = _school_days_digest(calendar)
    return (calendar.name, calendar.version, calendar.first_day, calendar.last_day, days)


#: ``_school_days_digest`` by calendar (held, so that its id is not another's): a trust has few
_DAYS_DIGESTS: dict[int, tuple[SchoolCalendar, str]] = {}


def _school_days_digest(calendar: SchoolCalendar) -> str:
    known = _DAYS_DIGESTS.get(id(calendar))
    if known is not None and known[0] is calendar:
        return known[1]
    ordinals = np.array([d.toordinal() for d in calendar.school_days], dtype=np.int64)
    digest = hashlib.sha256(ordinals.tobytes()).hexdigest()[:32]
    if len(_DAYS_DIGESTS) >= 64:  # calendars unpickled job after job (a helper): few held
        _DAYS_DIGESTS.clear()
    _DAYS_DIGESTS[id(calendar)] = (calendar, digest)
    return digest


@dataclass(frozen=True)
class KeptMarks:
    """One school's stored marks as columns, in the store's load order."""

    school: str
    calendar: CalendarKey
    pupil_id: npt.NDArray[np.int64]
    session: npt.NDArray[np.int32]
    code: npt.NDArray[np.int8]
    recorded_at: npt.NDArray[np.int64]
    minutes_late: npt.NDArray[np.int16]
    import_id: npt.NDArray[np.int64]
    imports: frozenset[int]  # every import with rows here: a later read skips them
    checked: frozenset[int] = frozenset()  # imports whose rows for this school are all here

    def __len__(self) -> int:
        return int(self.pupil_id.shape[0])

    def with_rows(self, more: KeptMarks, checked: Collection[int] = ()) -> KeptMarks:
        """These rows and ``more``'s, in load order (pupil, session, recorded_at, code text);
        ``checked``: imports now known to have no other rows for this school."""
        names = ("pupil_id", "session", "code", "recorded_at", "minutes_late", "import_id")
        if len(more) and not _packable(self, more):  # never from the store: a safe path
            both = [np.concatenate([getattr(self, n), getattr(more, n)]) for n in names]
            order = np.lexsort((_CODE_RANK[both[2]], both[3], both[1], both[0]))
            cols = [c[order] for c in both]
        elif len(more):
            at = _positions(self, more)
            if np.any(at[1:] < at[:-1]):  # ``more`` not in load order: never from the store
                cols = [np.insert(getattr(self, n), at, getattr(more, n)) for n in names]
            else:  # where each row lands, found once for the six columns, not by each insert
                landed = at + np.arange(len(more))
                mine = np.ones(len(self) + len(more), dtype=bool)
                mine[landed] = False
                cols = [_merged(getattr(self, n), getattr(more, n), mine, landed) for n in names]
        else:
            cols = [getattr(self, n) for n in names]
        pupil_id, session, code, recorded_at, minutes_late, import_id = cols
        return KeptMarks(
            self.school,
            self.calendar,
            pupil_id,
            session,
            code,
            recorded_at,
            minutes_late,
            import_id,
            imports=self.imports | more.imports,
            checked=self.checked | more.checked | frozenset(checked),
        )

    def empty(self) -> KeptMarks:
        """No rows, on the same calendar."""
        return no_rows(self.school, self.calendar)

    def mark_table(self, names: dict[int, str]) -> MarkTable:
        """The ``MarkTable`` a full read gives (``marks_io.to_mark_table``): pupils in id order."""
        if not len(self):
            return MarkTable.empty(self.school)
        ids, pupil = _ids_and_positions(self.pupil_id)
        return MarkTable(
            school=self.school,
            pupils=tuple(names[int(i)] for i in ids),
            pupil=pupil.astype(np.int32),
            session=self.session,
            code=self.code,
            recorded_at=self.recorded_at,
            minutes_late=self.minutes_late,
        )

    def amended_pupils(
        self, imports: Collection[int], before: date, calendar: SchoolCalendar
    ) -> set[int]:
        """Pupil ids with marks of days before ``before`` from ``imports`` (the store's
        ``_amended_sql``: every stored mark is on a school day of the calendar it was read on)."""
        if not imports or not len(self):
            return set()
        first_after = bisect.bisect_left(calendar.school_days, before)
        rows = self.session < 2 * first_after
        # a few imports at most: compared one by one (``np.isin`` sorts every row of the year)
        of_imports = np.zeros(len(self), dtype=bool)
        for i in set(imports):
            of_imports |= self.import_id == i
        return set(_distinct(self.pupil_id[rows & of_imports]).tolist())


def _distinct(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``np.unique(ids)``: kept rows are in load order, pupil id first, so the ids come in
    order and each is kept where it changes, in one pass, not hashed (a school's whole year,
    when an import of many days is still recent, hashed each evening: a tenth of its read)."""
    if ids.size == 0 or not np.all(ids[1:] >= ids[:-1]):
        return np.unique(ids)
    first = np.empty(ids.size, dtype=bool)
    first[0] = True
    np.not_equal(ids[1:], ids[:-1], out=first[1:])
    return ids[first]


def _ids_and_positions(
    pupil_id: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """``np.unique(pupil_id, return_inverse=True)``: kept rows are in load order, pupil id
    first, so the ids are found where they change, in one pass, not by sorting a year's rows
    again each evening (ids out of order, never from the store: ``np.unique``)."""
    step = pupil_id[1:] != pupil_id[:-1]
    if not np.all(pupil_id[1:][step] > pupil_id[:-1][step]):
        ids, inverse = np.unique(pupil_id, return_inverse=True)
        return ids, inverse
    starts = np.empty(len(pupil_id), dtype=bool)
    starts[0] = True
    starts[1:] = step
    return pupil_id[starts], np.cumsum(starts) - 1


def _positions(kept: KeptMarks, more: KeptMarks) -> npt.NDArray[np.intp]:
    """Where each of ``more``'s rows (in load order already) goes among ``kept``'s: before the
    first row that sorts after it. The order is (pupil, session) then (recorded_at, code); a
    (pupil, session) holds a row a version, a few at most, so they are walked in a short loop."""
    k1, n1 = _cell(kept), _cell(more)
    n2 = _version(more)
    lo = np.searchsorted(k1, n1, side="left")
    hi = np.searchsorted(k1, n1, side="right")
    at = lo.copy()
    last = len(kept) - 1
    for step in range(int((hi - lo).max(initial=0))):
        idx = np.minimum(lo + step, last)
        inside = lo + step < hi
        # the versions of the rows walked only, not of the whole year
        k2 = kept.recorded_at[idx] * 64 + _CODE_RANK[kept.code[idx]]
        at += inside & (k2 < n2)
    return at


def _merged(
    column: npt.NDArray[Any],
    more: npt.NDArray[Any],
    mine: npt.NDArray[np.bool_],
    landed: npt.NDArray[np.intp],
) -> npt.NDArray[Any]:
    """``column`` with ``more``'s values at ``landed`` (increasing), its own where ``mine``."""
    out = np.empty(len(mine), dtype=column.dtype)
    out[mine] = column
    out[landed] = more
    return out


def _packable(*kept: KeptMarks) -> bool:
    """Every recorded_at fits ``_version``'s packing (stored marks' always do)."""
    bound = 1 << 56
    return all(
        not len(k) or (-bound < int(k.recorded_at.min()) and int(k.recorded_at.max()) < bound)
        for k in kept
    )


def _cell(k: KeptMarks) -> npt.NDArray[np.int64]:
    return k.pupil_id * (1 << 24) + k.session  # a calendar has far fewer than 2**24 sessions


def _version(k: KeptMarks) -> npt.NDArray[np.int64]:
    """recorded_at then the code's text rank in one int64: micros since 1970 stay below 2**57
    until the year 6536; the rank is below 64."""
    return k.recorded_at * 64 + _CODE_RANK[k.code]


def kept_sql(
    dialect: str, school_id: int, calendar: SchoolCalendar, seen: Collection[int] = ()
) -> str:
    """The school's rows (``KEPT_SCHEMA``) of imports not in ``seen``; ints and dates formatted
    in, as ``load_sql`` does, never text from a user."""
    base = load_sql(dialect, school_id, calendar.first_day, calendar.last_day)
    head, order = base.split(" FROM marks ", 1)
    where, order_by = order.split(" ORDER BY ", 1)
    skip = ""
    if seen:
        skip = f" AND import_id NOT IN ({','.join(str(int(i)) for i in sorted(seen))})"
    return f"{head}, import_id FROM marks {where}{skip} ORDER BY {order_by}"


def kept_of(school: str, calendar: SchoolCalendar, rows: pa.Table) -> KeptMarks:
    """Rows read with ``kept_sql`` (``KEPT_SCHEMA``), decoded as ``to_mark_table`` decodes, in
    load order (put in it here if they came otherwise)."""
    key = calendar_key(calendar)
    if rows.num_rows == 0:
        return no_rows(school, key)
    encoded = pc.dictionary_encode(rows.column("mark")).combine_chunks()
    session, code = mark_parts(calendar, [str(v) for v in encoded.dictionary.to_pylist()])
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    import_id = _ints(rows, "import_id")
    kept = KeptMarks(
        school,
        key,
        _ints(rows, "pupil_id"),
        session[indices],
        code[indices],
        _ints(rows, "recorded_at"),
        _ints(rows, "minutes").astype(np.int16),
        import_id,
        imports=frozenset(int(i) for i in np.unique(import_id)),
    )
    return kept if _in_load_order(kept) else _sorted(kept)


def kept_arrays_sql(school_id: int, calendar: SchoolCalendar, seen: Collection[int] = ()) -> str:
    """PostgreSQL: ``kept_sql``'s rows as one row of four arrays the server packs without
    writing a date as text (``kept_of_arrays`` decodes them): pupil, day and session in one
    ``int8`` (the day counted from the calendar's first, which the range keeps at or above
    0; a session other than AM or PM is NULL, which sends the read the old way), the codes
    run together with commas, ``recorded_at``, and the import with ``minutes_late`` in one
    ``int8``. Half the server's CPU of ``fetch_arrays`` over ``kept_sql``'s columns (its
    ``date::text || session || code``, that text's lengths and seven aggregates)."""
    first, last = calendar.first_day.isoformat(), calendar.last_day.isoformat()
    skip = ""
    if seen:
        skip = f" AND import_id NOT IN ({','.join(str(int(i)) for i in sorted(seen))})"
    return (
        "SELECT count(*), array_send(array_agg(q.cell)), string_agg(q.code, ','), "
        "array_send(array_agg(q.recorded_at)), array_send(array_agg(q.imp)) FROM ("
        f"SELECT pupil_id::int8 * {_PUPIL} + (date - DATE '{first}') * 2 "
        "+ CASE session WHEN 'AM' THEN 0 WHEN 'PM' THEN 1 END AS cell, code, recorded_at, "
        f"import_id::int8 * {_IMPORT} + (coalesce(minutes_late, -1) + {_MINUTES}) AS imp "
        f"FROM marks WHERE school_id = {int(school_id)} AND date BETWEEN '{first}' AND '{last}'"
        f"{skip} ORDER BY pupil_id, date, session, recorded_at, code) AS q"
    )


#: ``kept_arrays_sql``'s packing: pupil id above 32 bits of day and session; import id above
#: 16 bits of ``minutes_late`` (a smallint) moved to be at or above 0.
_PUPIL, _IMPORT, _MINUTES = 1 << 32, 1 << 16, 1 << 15


def kept_of_arrays(
    school: str, calendar: SchoolCalendar, found: Sequence[Any] | None
) -> KeptMarks | None:
    """``kept_arrays_sql``'s row decoded as ``kept_of`` decodes ``kept_sql``'s rows; None
    when the row holds what only the old read decodes (or refuses) as it did: a NULL, a
    session other than AM or PM, a day the calendar does not teach, a code with a comma or
    not a register code."""
    key = calendar_key(calendar)
    if found is None or not found[0]:
        return no_rows(school, key)
    rows = int(found[0])
    cell, recorded_at, imp = (int_array(found[i], rows) for i in (1, 3, 4))
    if cell is None or recorded_at is None or imp is None or found[2] is None:
        return None
    texts = pc.split_pattern(pa.array([found[2]], pa.large_string()), ",").flatten()
    if len(texts) != rows:  # a code holding a comma
        return None
    encoded = pc.dictionary_encode(texts)
    known = [str(t) for t in encoded.dictionary.to_pylist()]
    if any(t != UNMARKED_CODE and t not in ID_OF_CODE for t in known):
        return None
    ids = np.array([UNMARKED_ID if t == UNMARKED_CODE else ID_OF_CODE[t] for t in known])
    code = ids.astype(np.int8)[encoded.indices.to_numpy(zero_copy_only=False)]
    low = cell & (_PUPIL - 1)
    day = _day_indices(calendar, low >> 1)
    if day is None:
        return None
    import_id = imp >> 16
    kept = KeptMarks(
        school,
        key,
        cell >> 32,
        (2 * day + (low & 1)).astype(np.int32),
        code,
        recorded_at,
        ((imp & (_IMPORT - 1)) - _MINUTES).astype(np.int16),
        import_id,
        imports=frozenset(int(i) for i in np.unique(import_id)),
    )
    return kept if _in_load_order(kept) else _sorted(kept)


def _day_indices(
    calendar: SchoolCalendar, offsets: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64] | None:
    """Each day (counted from the calendar's first) as its school day's index; None when one
    is not a school day of the calendar (the old read names it in its error)."""
    span = (calendar.last_day - calendar.first_day).days + 1
    if int(offsets.min()) < 0 or int(offsets.max()) >= span:  # never: the read's range
        return None
    present = np.zeros(span, dtype=bool)
    present[offsets] = True
    index = np.full(span, -1, dtype=np.int64)
    for at in np.flatnonzero(present):
        try:
            index[at] = calendar.day_index(calendar.first_day + timedelta(days=int(at)))
        except CalendarError:
            return None
    return index[offsets]


def _in_load_order(k: KeptMarks) -> bool:
    """Whether the rows are in the store's load order (``bulk.fetch`` may be asked for them
    in whatever order the server aggregates them)."""
    if len(k) < 2:
        return True
    if not _packable(k):
        return False
    cell, version = np.diff(_cell(k)), np.diff(_version(k))
    return bool(np.all((cell > 0) | ((cell == 0) & (version > 0))))


def _sorted(k: KeptMarks) -> KeptMarks:
    order = np.lexsort((_CODE_RANK[k.code], k.recorded_at, k.session, k.pupil_id))
    names = ("pupil_id", "session", "code", "recorded_at", "minutes_late", "import_id")
    return replace(k, **{n: getattr(k, n)[order] for n in names})


def kept_of_import(
    table: MarkTable,
    calendar: SchoolCalendar,
    pupil_ids: npt.NDArray[np.int64],
    stamp: int,
    import_id: int,
) -> KeptMarks:
    """The rows an import of ``table`` stored when every row was new, as ``kept_of`` decodes
    them from the store: ``pupil_ids[i]`` is the database id of ``table.pupils[i]``, and a row
    whose file gave no ``recorded_at`` was stored as recorded at ``stamp`` (the import's now,
    in microseconds). The import is ``checked``: the school has no other rows of it."""
    recorded = table.recorded_at.astype(np.int64)
    recorded = np.where(recorded == UNKNOWN_RECORDED_AT, np.int64(stamp), recorded)
    pupil = pupil_ids[table.pupil].astype(np.int64)
    session = table.session.astype(np.int32)
    code = table.code.astype(np.int8)
    order = np.lexsort((_CODE_RANK[code], recorded, session, pupil))
    return KeptMarks(
        table.school,
        calendar_key(calendar),
        pupil[order],
        session[order],
        code[order],
        recorded[order],
        table.minutes_late.astype(np.int16)[order],
        np.full(len(order), import_id, dtype=np.int64),
        imports=frozenset({import_id}) if len(order) else frozenset(),
        checked=frozenset({import_id}),
    )


def no_rows(school: str, calendar: CalendarKey) -> KeptMarks:
    return KeptMarks(
        school,
        calendar,
        np.empty(0, np.int64),
        np.empty(0, np.int32),
        np.empty(0, np.int8),
        np.empty(0, np.int64),
        np.empty(0, np.int16),
        np.empty(0, np.int64),
        imports=frozenset(),
    )


def _ints(rows: pa.Table, name: str) -> npt.NDArray[np.int64]:
    return np.asarray(rows.column(name).to_numpy(), dtype=np.int64)


class RegisterMemory:
    """Each school's ``KeptMarks``, shared by the readers of one store (the daemon's);
    ``snapshots``: where they are saved when the daemon stops and looked for at a school's first
    read (``register_snapshots``): a file's rows are a candidate until the database proves them."""

    def __init__(self, snapshots: RegisterSnapshots | None = None) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, KeptMarks] = {}
        self.snapshots = snapshots
        self._candidates: dict[str, Candidate] = {}
        self._looked: set[str] = set()  # schools whose file was looked for
        # imports committed before a school's file was read: merged into it when it is
        self._pending: dict[str, list[tuple[int, KeptMarks]]] = {}

    def keeps(self, school: str, calendar: SchoolCalendar) -> bool:
        """Kept, or a file waiting for its proof (an import's rows go to either; the file is
        not read here, in an import's transaction, but when its school is first read)."""
        return self.get(school, calendar) is not None or self.may_have_file(school)

    def get(self, school: str, calendar: SchoolCalendar) -> KeptMarks | None:
        with self._lock:
            kept = self._kept.get(school)
        return kept if kept is not None and kept.calendar == calendar_key(calendar) else None

    def may_have_file(self, school: str) -> bool:
        """A candidate waits, or a file not yet looked at exists (the whole read is then not
        asked of a helper ahead: the file is tried first)."""
        if self.snapshots is None:
            return False
        with self._lock:
            if school in self._kept:
                return False
            if school in self._candidates:
                return True
            looked = school in self._looked
        return not looked and self.snapshots.exists(school)

    def candidate(self, school: str, calendar: SchoolCalendar) -> Candidate | None:
        """The school's file's rows not yet proved (read from the file the first time asked)."""
        if self.snapshots is None:
            return None
        key = calendar_key(calendar)
        with self._lock:
            if school in self._kept:
                return None
            if school not in self._looked:
                self._looked.add(school)
                found = self.snapshots.read(school, key)
                for import_id, rows in self._pending.pop(school, []):
                    merged = None if found is None else _with_import(found.kept, import_id, rows)
                    if found is not None and merged is not None:
                        found = replace(found, kept=merged)
                if found is not None:
                    self._candidates[school] = found
            found = self._candidates.get(school)
        return found if found is not None and found.kept.calendar == key else None

    def drop_candidate(self, school: str) -> None:
        """Proved (now kept) or rejected: the file's rows are not used again."""
        with self._lock:
            self._candidates.pop(school, None)

    def put(self, kept: KeptMarks) -> None:
        """Keep ``kept`` unless what is kept already holds more imports (a reader that raced)."""
        with self._lock:
            now = self._kept.get(kept.school)
            if now is None or now.calendar != kept.calendar or not kept.imports < now.imports:
                self._kept[kept.school] = kept
            self._candidates.pop(kept.school, None)

    def add_import(
        self, import_id: int, rows: Mapping[str, KeptMarks], touched: Collection[str]
    ) -> None:
        """After import ``import_id`` committed: ``rows``, each school's every row of it
        (``kept_of_import``), merged into what is kept (and into a file's candidate, proved
        later with them); ``touched``: the schools the import had rows for, all of them, so
        that every kept school not among them is known to have none. A school kept on another
        calendar, or that has seen the import already (a reader raced the commit), is left as
        it is."""
        with self._lock:
            for school, kept in self._kept.items():
                merged = _with_import(kept, import_id, rows.get(school), school in touched)
                if merged is not None:
                    self._kept[school] = merged
            for school, found in self._candidates.items():
                merged = _with_import(found.kept, import_id, rows.get(school), school in touched)
                if merged is not None:
                    self._candidates[school] = replace(found, kept=merged)
            if self.snapshots is not None:  # a file not read yet: its rows wait for it
                for school, more in rows.items():
                    if school not in self._kept and school not in self._looked:
                        self._pending.setdefault(school, []).append((import_id, more))

    def kept(self) -> list[KeptMarks]:
        with self._lock:
            return list(self._kept.values())

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()
            self._candidates.clear()
            self._pending.clear()

    @property
    def rows(self) -> int:
        with self._lock:
            return sum(len(k) for k in self._kept.values())


def _with_import(
    kept: KeptMarks, import_id: int, rows: KeptMarks | None, touched: bool = True
) -> KeptMarks | None:
    """``kept`` with import ``import_id``'s rows (``rows``: all of them for the school), or
    known to have none (not ``touched``); None: left as it is."""
    if import_id in kept.imports or import_id in kept.checked:
        return None
    if rows is not None:
        return kept.with_rows(rows) if rows.calendar == kept.calendar else None
    if not touched:
        return kept.with_rows(kept.empty(), (import_id,))
    return None
