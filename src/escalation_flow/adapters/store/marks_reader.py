"""Registers read for a process that also writes: on SQLite, in a helper process, ahead of need.

``Store.load_marks`` used to read SQLite files through ADBC, whose driver carries its own copy of the
SQLite library. Two copies of SQLite on one file in one process defeat SQLite's locking (POSIX
locks belong to the process, and closing any descriptor drops them all: sqlite.org/howtocorrupt,
section 2.2): when the ADBC connection closes it may take itself for the file's last user and
clean up the WAL index the service's own connections still map. Measured here: the service's
next commit died of SIGBUS (``run-day`` over the synthetic trust, a few schools in).

(``Store.load_marks`` now reads SQLite through this process's own ``sqlite3``: safe, about three
times slower.) When many registers are wanted in a row (a trust's school day), the service reads
them ahead in a helper process that does only ADBC reads, while this process holds a connection
open (SQLite's cross-process locks then keep the helper from cleaning up): while one school is
evaluated, the next one's register is read. A single register, or PostgreSQL, is read here.

With each register comes the set of pupils whose marks for days before the evaluated one were
imported since a given instant (the day's "amended" pupils).

A store that keeps registers (``Store.keep_registers``: the daemon) reads a school's marks whole
once (in the helper when asked ahead) and afterwards only the rows of imports it has not seen,
here, in one statement (``kept_registers``); the grid is then built here from the kept rows.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import threading
import weakref
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.bulk import fetch
from escalation_flow.adapters.store.engine import server_options, sqlite_path
from escalation_flow.adapters.store.kept_registers import (
    KEPT_SCHEMA,
    KeptMarks,
    RegisterMemory,
    kept_arrays_sql,
    kept_of,
    kept_sql,
)
from escalation_flow.adapters.store.marks_io import load_sql
from escalation_flow.adapters.store.models import Import, Mark, Pupil, School, table_of
from escalation_flow.adapters.store.register_helper import Job, grid_of, read, read_kept, ready
from escalation_flow.adapters.store.register_snapshots import (
    Candidate,
    RejectedError,
    prove,
    reject,
)
from escalation_flow.adapters.store.store import roster_and_names
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.marks import Roster
from escalation_flow.errors import NotFoundError
from escalation_flow.helper_processes import die_with_parent
from escalation_flow.stored import SchoolRead

_helper: ProcessPoolExecutor | None = None
# the pool's making and forgetting: the warm-up's reader and the timers' may meet a broken
# pool at once, and the second must not shut down the pool the first has just made
_helper_lock = threading.Lock()
_pools: weakref.WeakKeyDictionary[Future[Any], ProcessPoolExecutor] = weakref.WeakKeyDictionary()
T = TypeVar("T")


@dataclass(frozen=True)
class _Ask:
    school: str
    calendar: SchoolCalendar
    known_at: datetime
    since: datetime | None = None  # amended: imported after this (None: ask nothing)
    until: datetime | None = None  # ... and not after this (a simulated clock's now)
    before: date | None = None  # amended: marks of days before this


Amended = tuple[datetime, datetime, date]  # (since, until, before)


class RegisterReader:
    """Reads schools' registers; ``ahead`` queues reads done while other work goes on."""

    def __init__(self, store: Store) -> None:
        self.store = store
        path = sqlite_path(store.engine.url) if store.engine.dialect.name == "sqlite" else None
        self._path = path
        self._guard: Connection | None = None
        self._queued: dict[str, tuple[_Ask, Future[SchoolRead]]] = {}
        self._kept: RegisterMemory | None = store.registers_kept
        self._queued_kept: dict[str, Future[KeptMarks]] = {}
        # whole reads asked ahead and not needed after all (another reader of the store kept
        # the school first): cancelled, or waited for at the exit, before the guard goes
        self._abandoned: list[Future[KeptMarks]] = []
        # files proved ahead, in a thread (the queries and the file's reading free the GIL):
        # None when proved and kept, else the whole read asked of a helper instead
        self._proving: dict[str, Future[Future[KeptMarks] | None]] = {}
        self._prover: ThreadPoolExecutor | None = None
        # the helper reads PostgreSQL too: in a thread, building the grid would hold the GIL
        self._helped = self._path is not None or store.engine.dialect.name == "postgresql"
        self._conninfo = _conninfo(store.engine)

    def __enter__(self) -> RegisterReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        futures: list[Future[Any]] = [f for _, f in self._queued.values()]
        futures += self._queued_kept.values()
        futures += self._abandoned
        for proving in self._proving.values():
            proving.cancel()
        for proving in self._proving.values():  # waited for: a proof reads from the guard's file
            if not proving.cancelled() and proving.exception() is None:
                whole = proving.result()
                if whole is not None:  # a rejected file's whole read, not wanted now
                    futures.append(whole)
        self._proving.clear()
        if self._prover is not None:
            self._prover.shutdown(wait=True)
            self._prover = None
        for future in futures:
            future.cancel()
        for future in futures:
            if not future.cancelled():
                future.exception()  # wait: the helper reads only while we hold the guard
        self._queued.clear()
        self._queued_kept.clear()
        self._abandoned.clear()
        if self._guard is not None:
            self._guard.close()
            self._guard = None

    def ahead(
        self,
        school: str,
        calendar: SchoolCalendar,
        known_at: datetime,
        amended: Amended | None = None,
    ) -> None:
        """Start reading a school's register now, in the helper process (which also builds
        the grid); in-memory SQLite is read when asked for."""
        if school in self._queued or school in self._queued_kept or school in self._proving:
            return
        if not self._helped:
            return
        ask = _Ask(school, calendar, known_at, *(amended or (None, None, None)))
        if self._kept is not None:
            if self._kept.get(school, calendar) is not None:
                return  # kept: the new rows are read here
            if self._kept.may_have_file(school):  # proved in a thread while others are evaluated
                if self._guard is None and self._path is not None:
                    self._guard = self.store.engine.connect()  # before any helper reads
                if self._prover is None:
                    self._prover = ThreadPoolExecutor(1, thread_name_prefix="register-file")
                self._proving[school] = self._prover.submit(self._prove_ahead, ask, self._kept)
            else:
                self._queued_kept[school] = self._submit_kept(ask)
            return
        self._queued[school] = (ask, self._submit(ask))

    def read(
        self,
        school: str,
        calendar: SchoolCalendar,
        known_at: datetime,
        amended: Amended | None = None,
    ) -> SchoolRead:
        """The school's register as known at ``known_at``; ``amended`` = (since, until, before):
        also the pupils with marks of days before ``before`` imported by imports finished in
        (since, until]."""
        ask = _Ask(school, calendar, known_at, *(amended or (None, None, None)))
        if self._kept is not None:
            return self._read_kept(ask, self._kept)
        queued = self._queued.pop(school, None)
        if queued is not None and _same(queued[0], ask):
            try:
                return queued[1].result()
            except (BrokenProcessPool, CancelledError):  # a helper was killed: read here,
                _forget_helper(queued[1])  # a new helper next time
        # One register wanted now: reading it here (``Store.load_marks``) costs less than
        # starting the helper.
        return self._read_here(ask)

    def _submit(self, ask: _Ask) -> Future[SchoolRead]:
        if self._guard is None and self._path is not None:
            self._guard = self.store.engine.connect()  # held open while the helper reads
        with self.store.engine.connect() as conn:
            sid = _school_id(conn, ask.school)
            recent = _recent_imports(conn, ask.since, ask.until)
            names = _names(conn, sid)
        roster = self.store.load_roster(ask.school)
        cal = ask.calendar
        dialect = self.store.engine.dialect.name
        url = self.store.engine.url.render_as_string(hide_password=False)
        # PostgreSQL: the kept read's rows (one row of arrays, put in load order here if they
        # came otherwise), which ``KeptMarks.mark_table`` turns into the load's table
        marks_sql = (
            load_sql(dialect, sid, cal.first_day, cal.last_day)
            if self._path is not None
            else kept_sql(dialect, sid, cal)
        )
        job = Job(
            path=str(self._path) if self._path is not None else None,
            url=None if self._path is not None else url,
            conninfo=self._conninfo,
            marks_sql=marks_sql,
            amended_sql=_amended_sql(sid, recent, ask.before),
            school=ask.school,
            calendar=cal,
            names=names,
            roster=roster,
            known_at=ask.known_at,
            arrays_sql=None if self._path is not None else kept_arrays_sql(sid, cal),
        )
        return _to_helper(read, job)

    def _submit_kept(self, ask: _Ask) -> Future[KeptMarks]:
        if self._guard is None and self._path is not None:
            self._guard = self.store.engine.connect()  # held open while the helper reads
        with self.store.engine.connect() as conn:
            sid = _school_id(conn, ask.school)
        dialect = self.store.engine.dialect.name
        job = Job(
            path=str(self._path) if self._path is not None else None,
            url=None
            if self._path is not None
            else self.store.engine.url.render_as_string(hide_password=False),
            conninfo=self._conninfo,
            marks_sql=kept_sql(dialect, sid, ask.calendar),
            amended_sql=None,
            school=ask.school,
            calendar=ask.calendar,
            names={},
            roster=Roster(ask.school),
            known_at=ask.known_at,
            arrays_sql=kept_arrays_sql(sid, ask.calendar) if dialect == "postgresql" else None,
        )
        return _to_helper(read_kept, job)

    def _prove_ahead(self, ask: _Ask, memory: RegisterMemory) -> Future[KeptMarks] | None:
        """In the prover's thread: the school's file proved and kept (None), or else its whole
        read asked of a helper (that read's future)."""
        candidate = memory.candidate(ask.school, ask.calendar)
        if candidate is not None:
            with self.store.engine.connect() as conn:
                if self.store.engine.dialect.name == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                sid = _school_id(conn, ask.school)
                kept = _proved(conn, candidate, sid, ask, _marks_imports(conn), memory)
            memory.drop_candidate(ask.school)
            if kept is not None:
                memory.put(kept)
        if memory.get(ask.school, ask.calendar) is not None:
            return None
        return self._submit_kept(ask)

    def _await_proof(self, ask: _Ask) -> None:
        """A file being proved ahead: wait for it (kept, or a helper's whole read queued)."""
        proving = self._proving.pop(ask.school, None)
        if proving is None:
            return
        try:
            whole = proving.result()
        except Exception as exc:  # the read here tries the file again, or reads whole
            reject(ask.school, f"proof failed: {exc!r}")
            return
        if whole is not None:
            self._queued_kept[ask.school] = whole

    def keep(self, school: str, calendar: SchoolCalendar, known_at: datetime) -> bool:
        """The school's kept rows brought up to date as ``read`` brings them (from its proved
        file, or read whole, in the helper if asked ``ahead``), without the register built from
        them: a daemon's start readying its first evening (``daemon/warmup.py``). False when the
        store keeps no registers (nothing read)."""
        if self._kept is None:
            return False
        with self._kept_up_to_date(_Ask(school, calendar, known_at), self._kept):
            return True

    def _read_kept(self, ask: _Ask, memory: RegisterMemory) -> SchoolRead:
        """The register from the kept rows, brought up to date with the rows of imports not
        seen yet (``_kept_up_to_date``)."""
        with self._kept_up_to_date(ask, memory) as (conn, sid, kept):
            recent = _recent_imports(conn, ask.since, ask.until)
            # after the rows: every pupil they name is here
            roster, names = roster_and_names(conn, sid, ask.school)
        grid = grid_of(kept.mark_table(names), ask.calendar, ask.known_at, roster)
        amended: set[int] = set()
        if recent and ask.before is not None:
            amended = kept.amended_pupils(recent, ask.before, ask.calendar)
        return SchoolRead(grid, roster, frozenset(names[i] for i in amended if i in names))

    @contextmanager
    def _kept_up_to_date(
        self, ask: _Ask, memory: RegisterMemory
    ) -> Iterator[tuple[Connection, int, KeptMarks]]:
        """The school's kept rows, brought up to date with the rows of imports not seen yet
        (read whole the first time: in the helper if it was asked ahead; a file of them proved
        first, ahead in a thread if asked ahead: ``register_snapshots``), with the connection
        that read them (still open: what is read next is read after them) and the school's id."""
        self._await_proof(ask)
        kept = memory.get(ask.school, ask.calendar)
        queued = self._queued_kept.pop(ask.school, None)
        # rows memory does not hold yet: read whole in the helper, or brought up to date here
        fresh = False
        if kept is not None and queued is not None and not queued.cancel():
            # kept meanwhile by another reader (the warm-up's, beside the timers'): the helper
            # may be reading it already, and reads only while the guard is held
            self._abandoned.append(queued)
        if kept is None and queued is not None:
            try:
                kept = queued.result()
                fresh = True
            except (BrokenProcessPool, CancelledError):
                _forget_helper(queued)
        dialect = self.store.engine.dialect.name
        candidate = memory.candidate(ask.school, ask.calendar) if kept is None else None
        with self.store.engine.connect() as conn:
            if candidate is not None and dialect == "postgresql":
                # the file's proof and the rows it lacks read in one snapshot of the database
                conn.execution_options(isolation_level="REPEATABLE READ")
            sid = _school_id(conn, ask.school)
            # listed before the rows are read: each import listed has its rows in them
            listed = _marks_imports(conn)
            if candidate is not None:
                kept = _proved(conn, candidate, sid, ask, listed, memory)
                memory.drop_candidate(ask.school)
                fresh = kept is not None
            if kept is None or not listed <= kept.checked | kept.imports:
                seen = kept.imports if kept is not None else ()
                sql = kept_sql(dialect, sid, ask.calendar, seen)
                rows = fetch(conn, sql, KEPT_SCHEMA, unordered=True)  # kept_of orders
                new = kept_of(ask.school, ask.calendar, rows)
                kept = (
                    new.with_rows(new.empty(), listed)
                    if kept is None
                    else kept.with_rows(new, listed)
                )
                fresh = True
            if fresh:  # the helper's rows too when nothing was imported since its read
                memory.put(kept)
            yield conn, sid, kept

    def _read_here(self, ask: _Ask) -> SchoolRead:
        marks = self.store.load_marks(ask.school, ask.calendar)
        roster = self.store.load_roster(ask.school)
        with self.store.engine.connect() as conn:
            sid = _school_id(conn, ask.school)
            recent = _recent_imports(conn, ask.since, ask.until)
            amended: set[str] = set()
            if recent and ask.before is not None:
                m, p = table_of(Mark), table_of(Pupil)
                query = (
                    select(p.c.mis_id)
                    .distinct()
                    .join(m, m.c.pupil_id == p.c.id)
                    .where(m.c.school_id == sid, m.c.import_id.in_(recent), m.c.date < ask.before)
                )
                amended = set(conn.execute(query).scalars())
        grid = grid_of(marks, ask.calendar, ask.known_at, roster)
        return SchoolRead(grid, roster, frozenset(amended))


def _proved(
    conn: Connection,
    candidate: Candidate,
    sid: int,
    ask: _Ask,
    listed: frozenset[int],
    memory: RegisterMemory,
) -> KeptMarks | None:
    """The file's rows, with the rows of imports it lacks, if the database proves them; else
    None (logged, and the file deleted: it can never be used): the school is read whole."""
    try:
        return prove(conn, candidate, sid, ask.calendar, listed)
    except RejectedError as exc:
        reject(ask.school, str(exc))
        if memory.snapshots is not None:
            memory.snapshots.delete(ask.school)
        return None


def _conninfo(engine: Engine) -> str | None:
    """The store's PostgreSQL database for a helper's own psycopg connection (which spares the
    helper SQLAlchemy's imports: ``register_helper``), with the options the store connects
    with; None for SQLite or another driver, or when the store's connect arguments are not
    all libpq's (``?autocommit=true``: psycopg's own keyword): the helper then reads as the
    store reads."""
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return None
    import psycopg
    from psycopg.conninfo import make_conninfo

    _, kwargs = engine.dialect.create_connect_args(engine.url)
    # libpq's parameters only (SQLAlchemy adds psycopg's adapters ``context``, not libpq's)
    given = {k: v for k, v in kwargs.items() if isinstance(v, str | int)}
    if len(given) != len(kwargs) - ("context" in kwargs):
        return None  # a value no connection string carries: connect as the store does
    try:
        return make_conninfo("", **{**server_options(engine.url), **given})
    except psycopg.ProgrammingError:  # an option libpq does not know
        return None


def _same(a: _Ask, b: _Ask) -> bool:
    """The same question (``known_at`` and ``until`` aside: a clock read a moment later asks
    the same)."""
    return (a.school, a.since, a.before) == (b.school, b.since, b.before)


def _school_id(conn: Connection, school: str) -> int:
    found = conn.execute(select(School.id).where(School.key == school)).scalar()
    if found is None:
        raise NotFoundError(f"school {school!r} is not in the store; import its marks first")
    return int(found)


def _names(conn: Connection, school_id: int) -> dict[int, str]:
    query = select(Pupil.id, Pupil.mis_id).where(Pupil.school_id == school_id)
    return {pupil_id: mis_id for pupil_id, mis_id in conn.execute(query)}


def _marks_imports(conn: Connection) -> frozenset[int]:
    query = select(Import.id).where(table_of(Import).c.kind == "marks")
    return frozenset(int(i) for i in conn.execute(query).scalars())


def _recent_imports(conn: Connection, since: datetime | None, until: datetime | None) -> list[int]:
    if since is None:
        return []
    finished = table_of(Import).c.finished_at
    query = select(Import.id).where(finished > since)
    if until is not None:
        query = query.where(finished <= until)
    return [int(i) for i in conn.execute(query).scalars()]


def _amended_sql(school_id: int, imports: Collection[int], before: date | None) -> str | None:
    """Ints and a date formatted in (the helper takes plain SQL text), never text from a user."""
    if not imports or before is None:
        return None
    ids = ",".join(str(int(i)) for i in imports)
    return (
        f"SELECT DISTINCT pupil_id FROM marks WHERE school_id = {int(school_id)} "
        f"AND import_id IN ({ids}) AND date < '{before.isoformat()}'"
    )


def start_helpers(store: Store) -> None:
    """Start the helper processes now (a daemon, at its start), each importing what its reads
    need, not waited for: a helper's start is about 1.5 CPU-s of imports (the store's modules,
    SQLAlchemy, pyarrow, ADBC), which a daemon's first evening or catch-up otherwise paid
    while it waited for its first registers. Nothing is read: a SQLite file is opened only by
    a job, while this process holds its guard connection."""
    dialect = store.engine.dialect.name
    if dialect == "postgresql" or (dialect == "sqlite" and sqlite_path(store.engine.url)):
        for _ in range(_HELPERS):  # each submit starts a process while none is idle
            _to_helper(ready, dialect)


#: Helper processes: a PostgreSQL register takes about as long to read as a school takes to
#: evaluate, so two keep the daemon fed on two cores.
_HELPERS = 2


def _executor() -> ProcessPoolExecutor:
    global _helper
    with _helper_lock:
        return _helper or _new_helper()


def _new_helper() -> ProcessPoolExecutor:
    global _helper
    if _helper is None:
        # spawn, not fork: the helper must not inherit this process's SQLite connections
        _helper = ProcessPoolExecutor(
            max_workers=_HELPERS,
            mp_context=mp.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        atexit.register(_shutdown)
    return _helper


def _to_helper(fn: Callable[[Any], T], arg: Any) -> Future[T]:
    """``fn(arg)`` in a helper. A pool one of whose helpers died (killed while idle: the
    daemon keeps them from its start for its life) refuses every job; it is replaced, or
    every later read ahead would fail."""
    pool = _executor()
    try:
        future = pool.submit(fn, arg)
    except BrokenProcessPool:
        _forget_helper(pool=pool)
        pool = _executor()
        future = pool.submit(fn, arg)
    _pools[future] = pool
    return future


def _forget_helper(
    broken: Future[Any] | None = None, pool: ProcessPoolExecutor | None = None
) -> None:
    """Drop the pool that broke (``broken``: one of its jobs, or ``pool`` itself, when known:
    a pool another thread has made since is left alone, or its jobs would be cancelled)."""
    global _helper
    if broken is not None:
        pool = _pools.get(broken)
    with _helper_lock:
        if _helper is None or (pool is not None and pool is not _helper):
            return
        _helper.shutdown(wait=False, cancel_futures=True)
        _helper = None


def _shutdown(*_: Any) -> None:
    if _helper is not None:
        _helper.shutdown(wait=True, cancel_futures=True)
