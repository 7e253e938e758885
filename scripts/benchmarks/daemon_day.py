"""The daemon's day: one school day of the trust imported, evaluated and written, and 10,000
overdue timers fired, on SQLite and (when reachable) PostgreSQL.

Set-up, not timed: the registers up to the day before are imported; the cases are seeded as
the backtest leaves them that evening (tasks auto-completed, so cases are spread over their
states as in a working school); each timed run starts from a copy of that database. Timed:

- ``one_day_<db>``: import the day's marks file, then ``Service.run_trust_day`` (every
  school's register brought up to date, 20,000 pupils evaluated, every decision written and
  letters prepared as HTML), by a store that keeps registers as the daemon's does
  (``daemon_keeps_registers``), each school's read once the evening before (set-up, not
  timed): the day of a daemon that ran yesterday. Target 4 s.
- ``one_day_first_<db>`` (one run): the same day as a daemon's first evening after a restart:
  a store that kept the registers the evening before saved them to its files
  (``Store.save_registers``, as a daemon stopping does) and was disposed; this process's
  caches that a restarted daemon's new process would not have are emptied (``_as_new``: the
  compiled letter templates, the parsed flows, the flow machines, statements built once); a new
  store and service, started as a daemon starts, and readied by the daemon's own warm-up
  (``daemon.warmup.warm_up``, which a daemon runs beside its schedule once it has caught up:
  the letters compiled, the open cases decoded, each school's file proved by the database and
  kept), then runs the day.
- ``warm_up_<db>`` (one run, no floor): that warm-up itself, what a restart costs before its
  first evening.
- ``one_day_first_cold_<db>`` (one run, no floor): the same day with no files and no warm-up (a
  daemon whose first evening is its start's catch-up): the caches emptied as above, every
  school's register read whole (in the helper process, ahead of need) into the store's kept
  registers, the open cases decoded and the letters compiled as the evening needs them.
- ``letter_pdfs_<db>``: the PDFs of that day's letters, rendered after the day's commit by the
  pool of processes (``service/letter_pool.py``). Target 5 s.
- ``fire_timers_<db>``: ``Service.fire_due_timers`` over 10,000 overdue review timers, claimed
  and fired a batch per transaction (target 10 s, goal 3 s).

PostgreSQL: ESCALATION_FLOW_BENCH_POSTGRES_URL, else ESCALATION_FLOW_TEST_POSTGRES_URL; skipped
(with a note: "skipped: no PostgreSQL") when neither is set or the server cannot be reached.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from benchmarks import BenchContext, Result
from escalation_flow.adapters import flow_files, letter_rendering
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import (
    Store,
    case_statements,
    kept_registers,
    school_days,
    snapshots,
    sqlite_rows,
)
from escalation_flow.adapters.store.case_writer import HistoryWriter, record_school_day
from escalation_flow.adapters.store.cases import school_id
from escalation_flow.adapters.store.register_snapshots import database_key, snapshots_root
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.backtest import Period, SchoolRun, run_school
from escalation_flow.clock import SimulatedClock
from escalation_flow.core import evaluation, facts, machine, packed_counts, school_age
from escalation_flow.core.case import Case, fold
from escalation_flow.core.decisions import CaseOpened, Reason, StageEntered, TimerArmed
from escalation_flow.daemon.warmup import warm_up
from escalation_flow.logs import configure_logging
from escalation_flow.service import Service
from escalation_flow.stored import ENGINE, OPEN, CaseChange, StoredCase

ORDER = 60
TIMERS = 10_000
LONDON = ZoneInfo("Europe/London")


def run(ctx: BenchContext) -> list[Result]:
    configure_logging("json", "ERROR")
    work = ctx.data_dir / "daemon_day"
    work.mkdir(exist_ok=True)
    trust = load_trust(ctx.trust_file)
    day = _the_day(trust, ctx)
    before_csv, day_csv = _split(ctx.marks_csv, day, work)
    results: list[Result] = []
    for backend in ("sqlite", "postgresql"):
        try:
            databases = _Databases(backend, work)
        except RuntimeError as exc:
            print(f"daemon_day: {backend}: {exc}")
            continue
        with databases:
            results += _one_backend(ctx, databases, trust, day, before_csv, day_csv)
    return results


def _one_backend(
    ctx: BenchContext, dbs: _Databases, trust: Trust, day: date, before: Path, today: Path
) -> list[Result]:
    name = dbs.backend
    pupils = ctx.schools * ctx.pupils_per_school
    base = dbs.new()
    _import_base(base, trust, before, ctx.roster_csv, day)
    seeded = dbs.copy(base)
    _seed_cases(seeded, trust, day)
    days, pdfs, decisions = [], [], 0
    firsts: dict[str, float] = {}
    warming, warmed = 0.0, dict[str, float]()
    warm_runs = max(1, min(ctx.runs, 3))
    # then the daemon's first evening after a restart (its files of the evening before), and
    # after a start with no files (every register read whole)
    for kind in ["warm"] * warm_runs + ["restarted", "cold"]:
        url = dbs.copy(seeded)
        # the default folder (register_snapshots_dir unset): beside a SQLite file; a server's
        # under $STATE_DIRECTORY, as the systemd units set it (here one for the run)
        state = {"STATE_DIRECTORY": str(dbs.work / f"state-{uuid.uuid4().hex[:8]}")}
        files = snapshots_root(None, url, state)
        assert files is not None
        folder = files / database_key(url)
        if kind == "restarted":  # a daemon that ran the evening before and stopped cleanly
            before_store = Store(url)
            before_store.keep_registers(files)
            before_service = Service(
                before_store, trust, SimulatedClock(_local(day, 17)), worker="bench"
            )
            _evening_before(before_store, before_service, day)
            before_store.save_registers()
            before_store.dispose()
        if kind != "warm":
            _as_new()  # a restarted daemon is a new process
        clock = SimulatedClock(_local(day, 17))
        store = Store(url)
        # as a daemon does from its start (daemon_keeps_registers, register_snapshots_dir)
        store.keep_registers(files)
        service = Service(store, trust, clock, worker="bench")
        for school in service.schools():
            service.setup(school)  # flows read once when the daemon starts, not each day
        warm = kind == "warm"
        if warm:
            _evening_before(store, service, day)
        if kind == "restarted":  # the daemon's own warm-up, as its start runs it
            started = time.perf_counter()
            done = warm_up(service, store, lambda: False)
            warming = time.perf_counter() - started
            warmed = {"schools": done.schools, "cases": done.cases, "templates": done.templates}
        started = time.perf_counter()
        result = read_marks(today, trust.calendars(), aliases=trust.aliases)
        store.import_marks(result, file=today, now=clock.now(), by="bench")
        clock.set(_local(day, 18))
        reports = service.run_trust_day(day)
        if not warm:
            firsts[kind] = time.perf_counter() - started
            store.dispose()
            shutil.rmtree(folder, ignore_errors=True)
            dbs.drop(url)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        days.append(time.perf_counter() - started)
        decisions = sum(r.decisions for r in reports)
        started = time.perf_counter()
        letters = service.render_letters()
        pdfs.append(time.perf_counter() - started)
        store.dispose()
        dbs.drop(url)
    timers_url = dbs.copy(base)
    _seed_timers(timers_url, trust, day)
    store = Store(timers_url)
    service = Service(store, trust, SimulatedClock(_local(day, 12)), worker="bench")
    started = time.perf_counter()
    fired = service.fire_due_timers()
    firing = time.perf_counter() - started
    store.dispose()
    print(
        f"daemon_day[{name}] {day}: {decisions} decisions, {letters} letters, {len(fired)} timers fired"
    )
    return [
        Result.of(
            f"daemon_day.one_day_{name}",
            days,
            rates={"pupils/s": pupils},
            extra={"decisions": decisions},
            target_s=4.0,
        ),
        Result.of(
            f"daemon_day.one_day_first_{name}", [firsts["restarted"]], rates={"pupils/s": pupils}
        ),
        # no floor: what the restart's warm-up cost before that first evening
        Result.of(f"daemon_day.warm_up_{name}", [warming], extra=warmed),
        # no floor: the first evening with no files (a first start, or every file rejected)
        Result.of(
            f"daemon_day.one_day_first_cold_{name}", [firsts["cold"]], rates={"pupils/s": pupils}
        ),
        Result.of(
            f"daemon_day.letter_pdfs_{name}", pdfs, rates={"letters/s": letters}, target_s=5.0
        ),
        Result.of(
            f"daemon_day.fire_timers_{name}",
            [firing],
            rates={"timers/s": len(fired)},
            extra={"timers": len(fired)},
            target_s=10.0 * len(fired) / TIMERS,
        ),
    ]


# -- set-up ----------------------------------------------------------------------------------


def _evening_before(store: Store, service: Service, day: date) -> None:
    """What a daemon that ran the evening before ``day`` holds (``Store.keep_registers``, as
    ``daemon_keeps_registers`` does): every school's register, read as it was then, and its
    open cases, as that evening read and wrote them, and the letter templates it compiled
    (Jinja keeps them compiled for the process, as the flows are parsed once a process)."""
    store.keep_registers()
    letter_rendering.compile_letters(letter_rendering.template_variants())
    with store.read() as tx:
        for school in service.schools():
            tx.load_cases(tx.school_id(school), school, status=OPEN)
    evenings = {}
    for school in service.schools():
        calendar = service.setup(school).calendar
        evenings[school] = (calendar, _local(calendar.school_days[calendar.day_index(day) - 1], 18))
    with store.register_reader() as reader:
        for school, (calendar, evening) in evenings.items():
            reader.ahead(school, calendar, evening)  # read whole in the helper, as then
        for school, (calendar, evening) in evenings.items():
            reader.read(school, calendar, evening)


def _as_new() -> None:
    """Empty what this process's earlier runs left in its per-process caches that a new
    process (a restarted daemon) would not have: the letter templates Jinja compiled, the flows
    parsed and their machines, and the tables and statements built once a process. (What no
    cache holds, modules imported and the interpreter's own warming, stays: a fresh process
    pays a little more than this.)"""
    letter_rendering._environment.cache_clear()
    letter_rendering._letters_listed.cache_clear()
    flow_files._compiled.cache_clear()
    machine._cache.clear()
    evaluation.evening_stimulus.cache_clear()
    packed_counts.packing_of.cache_clear()
    school_age.compulsory_school_age_span.cache_clear()
    facts._minimums.cache_clear()
    school_days._statement.cache_clear()
    case_statements.statements.cache_clear()
    sqlite_rows._processors.cache_clear()
    sqlite_rows._unsupplied.cache_clear()
    snapshots._PAIR_TEXTS.clear()
    facts._KEPT_WINDOWS.clear()
    kept_registers._DAYS_DIGESTS.clear()


def _the_day(trust: Trust, ctx: BenchContext) -> date:
    """A school day of every school, about three fifths into the registers (spring term)."""
    first, last = date.fromisoformat(ctx.start), date.fromisoformat(ctx.end)
    day = first + (last - first) * 3 // 5
    calendars = trust.calendars().values()
    while not all(c.is_school_day(day) for c in calendars):
        day += timedelta(days=1)
    return day


def _split(marks_csv: Path, day: date, work: Path) -> tuple[Path, Path]:
    """The marks before ``day`` and the marks of ``day``, as two CSV files (kept for reruns)."""
    before, today = work / f"before-{day}.csv", work / f"day-{day}.csv"
    if before.exists() and today.exists():
        return before, today
    options = pv.ConvertOptions(column_types={c: pa.string() for c in _COLUMNS})
    table = pv.read_csv(marks_csv, convert_options=options)
    dates = table.column("date")
    for path, mask in (
        (before, pc.less(dates, day.isoformat())),
        (today, pc.equal(dates, day.isoformat())),
    ):
        pv.write_csv(table.filter(mask), path, pv.WriteOptions(quoting_style="needed"))
    return before, today


_COLUMNS = ("school", "pupil", "date", "session", "code", "minutes_late", "recorded_at")


def _import_base(url: str, trust: Trust, before: Path, roster: Path, day: date) -> None:
    store = Store(url)
    store.migrate()
    store.upsert_schools(trust)
    # imported before the evening the cases are seeded at (the school day before's, 18:00), as
    # a daemon's day finds them: a later import would make every mark of the year "amended"
    # since that evening, and the day re-read and re-screen every pupil
    before_day = min(
        c.school_days[c.day_index(day) - 1] for c in trust.calendars().values()
    )
    now = _local(before_day, 17)
    store.import_marks(
        read_marks(before, trust.calendars(), aliases=trust.aliases),
        file=before,
        now=now,
        by="bench",
    )
    if roster.exists():
        rosters = read_roster(roster, set(trust.schools), aliases=trust.aliases)
        store.import_roster(rosters, file=roster, now=now, by="bench")
    store.dispose()


def _seed_cases(url: str, trust: Trust, day: date) -> None:
    """Every school's cases as the backtest leaves them the evening before ``day``."""
    store = Store(url)
    service = Service(store, trust, SimulatedClock(_local(day, 8)), worker="seed")
    for school in service.schools():
        setup = service.setup(school)
        cal = setup.calendar
        previous = cal.school_days[cal.day_index(day) - 1]
        marks = store.load_marks(school, cal)
        book = run_school(
            SchoolRun(
                school,
                setup.flow,
                cal,
                marks,
                store.load_roster(school),
                registers_close=setup.registers_close,
            ),
            Period(None, previous),
            auto_complete=True,
        )
        changes = [
            CaseChange(
                StoredCase(None, Case(school, book.pupils[p])), history, book.cases[p], ENGINE
            )
            for p, history in sorted(book.history.items())
        ]
        now = _local(previous, 18)
        with store.engine.begin() as conn:
            sid = school_id(conn, school)
            HistoryWriter(
                conn,
                school_id=sid,
                school=school,
                flow=setup.flow.id,
                flow_version=setup.flow.version,
                now=now,
                worker="seed",
            ).write(changes)
            record_school_day(
                conn, sid, previous, now, sum(len(c.decisions) for c in changes), "seed"
            )
    store.dispose()


def _seed_timers(url: str, trust: Trust, day: date) -> None:
    """``TIMERS`` cases, spread over the schools, each in a state whose review came due the
    school day before ``day`` at 08:00 and has not fired."""
    store = Store(url)
    service = Service(store, trust, SimulatedClock(_local(day, 8)), worker="seed")
    schools = service.schools()
    per_school = TIMERS // len(schools) + 1
    left = TIMERS
    for school in schools:
        setup = service.setup(school)
        cal = setup.calendar
        state, timer = next(
            (n, r.state.timers[0]) for n, r in setup.flow.states.items() if r.state.timers
        )
        stage = setup.flow.state(state).stage.number
        due = cal.school_days[cal.day_index(day) - 1]
        opened = cal.school_days[cal.day_index(day) - 20]
        at = _local(opened, 16, 30)
        fire_at = _local(due, 8)
        pupils = list(store.load_roster(school).pupils)[: min(per_school, left)]
        left -= len(pupils)
        changes = []
        for pupil in pupils:
            decisions = [
                CaseOpened(on=opened, at=at, flow=setup.flow.id, flow_version=setup.flow.version),
                StageEntered(
                    on=opened,
                    at=at,
                    stage=stage,
                    state=state,
                    from_stage=0,
                    reason=Reason(trigger="override"),
                ),
                TimerArmed(
                    on=opened,
                    at=at,
                    timer_key=f"{timer.id}#1",
                    timer=timer.id,
                    due=due,
                    fire_at=fire_at,
                    rule=str(timer.after),
                    calendar_version=cal.version,
                ),
            ]
            changes.append(
                CaseChange(
                    StoredCase(None, Case(school, pupil)),
                    decisions,
                    fold(school, pupil, decisions),
                    ENGINE,
                )
            )
        with store.engine.begin() as conn:
            sid = school_id(conn, school)
            HistoryWriter(
                conn,
                school_id=sid,
                school=school,
                flow=setup.flow.id,
                flow_version=setup.flow.version,
                now=at,
                worker="seed",
            ).write(changes)
    store.dispose()


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=LONDON).astimezone(UTC)


# -- databases -------------------------------------------------------------------------------


class _Databases:
    """Scratch databases of one backend: new, copied, dropped (all dropped at the end)."""

    def __init__(self, backend: str, work: Path) -> None:
        self.backend = backend
        self.work = work
        self.made: list[str] = []
        if backend == "postgresql":
            admin = os.environ.get("ESCALATION_FLOW_BENCH_POSTGRES_URL") or os.environ.get(
                "ESCALATION_FLOW_TEST_POSTGRES_URL"
            )
            if not admin:
                raise RuntimeError("skipped: no PostgreSQL (ESCALATION_FLOW_BENCH_POSTGRES_URL)")
            self.admin = admin
            try:
                with self._admin() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except sa.exc.OperationalError as exc:
                raise RuntimeError(f"{self.admin} cannot be reached ({exc.orig})") from exc

    def __enter__(self) -> _Databases:
        return self

    def __exit__(self, *_: object) -> None:
        for url in reversed(self.made):
            self.drop(url)

    @contextmanager
    def _admin(self) -> Iterator[sa.Connection]:
        engine = sa.create_engine(self.admin, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def new(self, template: str | None = None) -> str:
        name = f"ef_bench_{uuid.uuid4().hex[:10]}"
        if self.backend == "sqlite":
            path = self.work / f"{name}.sqlite"
            if template is not None:
                shutil.copyfile(str(make_url(template).database), path)
            url = f"sqlite:///{path}"
        else:
            with self._admin() as conn:
                source = f" TEMPLATE {make_url(template).database}" if template else ""
                conn.exec_driver_sql(f"CREATE DATABASE {name}{source}")
            url = make_url(self.admin).set(database=name).render_as_string(hide_password=False)
        self.made.append(url)
        return url

    def copy(self, url: str) -> str:
        return self.new(template=url)

    def drop(self, url: str) -> None:
        if url not in self.made:
            return
        self.made.remove(url)
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)
            return
        with self._admin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")
