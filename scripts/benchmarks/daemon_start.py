"""The daemon's start and its catch-up after a downtime, on SQLite.

Set-up, not timed: the registers up to a spring school day imported (the same split as
``daemon_day``), the roster, and 100,000 pending review timers written through the store's
history writer: 10,000 cases whose timer came due the morning before, and the other pupils'
cases each holding several timers due over the rest of the year (about 380 distinct instants,
08:00 and 13:00 of each school day). ``--quick``: 10,000 timers, 500 of them overdue.

Timed, in this process, on the daemon's own code (``escalation_flow.daemon``):

- ``start_100k_pending``: a daemon starting with nothing overdue: the database checked, the
  trust's flows and calendars loaded and checked, the lock, the reconcile (nothing to do), and
  the scheduler's jobs rebuilt from the timers table. Target 10 s.
- ``fire_10k_overdue``: the same daemon started after a downtime that left 10,000 timers
  overdue, until its reconcile has fired them all, a batch per transaction. Target 10 s (goal
  3 s).
- ``ready_after_catch_up``: what the start does after them until it serves its schedule (the
  rest of the reconcile: the outbox; the scheduler's jobs rebuilt). The letters those timers
  prepared are not rendered there but beside the schedule (``daemon/letters.py``):
- ``letters_after_catch_up``: from the firing's end until the letter thread has kept the last
  of their PDFs (the pool, one process a core), timed apart as ``daemon_day`` times the day's
  letters apart from the day (``letter_pdfs_*``: compare letters/s).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks import BenchContext, Result
from benchmarks.daemon_day import _split, _the_day
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.cases import school_id
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.case import Case, fold
from escalation_flow.core.decisions import CaseOpened, Decision, Reason, StageEntered, TimerArmed
from escalation_flow.core.definition import Timer
from escalation_flow.daemon import DaemonOptions
from escalation_flow.logs import configure_logging
from escalation_flow.service import Service
from escalation_flow.service.register import SchoolSetup
from escalation_flow.settings import Settings
from escalation_flow.stored import ENGINE, CaseChange, StoredCase

ORDER = 70
LONDON = ZoneInfo("Europe/London")


def run(ctx: BenchContext) -> list[Result]:
    configure_logging("json", "ERROR")
    total, overdue = (10_000, 500) if ctx.quick else (100_000, 10_000)
    trust = load_trust(ctx.trust_file)
    day = _the_day(trust, ctx)
    work = ctx.data_dir / "daemon_day"
    work.mkdir(exist_ok=True)
    before_csv, _ = _split(ctx.marks_csv, day, work)
    with tempfile.TemporaryDirectory(dir=ctx.data_dir) as scratch:
        folder = Path(scratch)
        template = folder / "template.sqlite"
        _build(template, trust, before_csv, ctx.roster_csv, day, total, overdue)
        eve = min(c.school_days[c.day_index(day) - 1] for c in trust.calendars().values())
        starts, firings, readies, renders, jobs, fired, letters = [], [], [], [], 0, 0, 0
        for _ in range(max(1, min(ctx.runs, 2))):
            with _copy(template, folder, ctx.trust_file) as settings:
                started, jobs = _start(settings, _local(eve, 7))  # before anything is due
            starts.append(started)
            with _copy(template, folder, ctx.trust_file) as settings:
                after = _fire(settings, _local(day, 12))  # after the downtime
            firings.append(after.firing)
            readies.append(after.ready)
            renders.append(after.letters_s)
            fired, letters = after.fired, after.letters
    print(
        f"daemon_start: {total} pending timers, {jobs} timer jobs; {fired} overdue fired, "
        f"{letters} letters rendered beside the schedule"
    )
    return [
        Result.of(
            "daemon_start.start_100k_pending",
            starts,
            rates={"timers/s": total},
            extra={"timer jobs": jobs},
            target_s=10.0,
        ),
        Result.of(
            "daemon_start.fire_10k_overdue",
            firings,
            rates={"timers/s": fired},
            extra={"timers": fired},
            target_s=10.0 * fired / 10_000,
        ),
        Result.of("daemon_start.ready_after_catch_up", readies),
        Result.of("daemon_start.letters_after_catch_up", renders, rates={"letters/s": letters}),
    ]


@contextmanager
def _copy(template: Path, folder: Path, trust_file: Path) -> Iterator[Settings]:
    database = folder / "run.sqlite"
    shutil.copyfile(template, database)
    try:
        yield Settings(
            database_url=f"sqlite:///{database}", trust_file=trust_file, inbox_dir=folder / "inbox"
        )
    finally:
        for suffix in ("", "-wal", "-shm", ".daemon.lock"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def _start(settings: Settings, now: datetime) -> tuple[float, int]:
    """Seconds from nothing to a daemon whose jobs are rebuilt, with nothing overdue."""
    options = DaemonOptions(catch_up_days=0, inbox=False, worker="bench")
    started = time.perf_counter()
    daemon = Root(SimulatedClock(now)).daemon(settings, options)
    daemon.open()
    try:
        daemon.reconcile()
        from escalation_flow.daemon.mirror import Mirror

        daemon.mirror = Mirror(daemon.worker, daemon.log)
        jobs = daemon.mirror.build(paused=True)
        seconds = time.perf_counter() - started
    finally:
        daemon.close()
    return seconds, jobs


@dataclass(frozen=True)
class _AfterDowntime:
    firing: float  # seconds from nothing to every overdue timer fired
    fired: int
    ready: float  # seconds from then until the schedule is served
    letters_s: float  # seconds from the firing's end until the last PDF is kept
    letters: int


def _fire(settings: Settings, now: datetime) -> _AfterDowntime:
    """A daemon that goes on to serve, started after the downtime: its start and every overdue
    timer fired (each batch committed); then the rest of its reconcile and its schedule built
    (the scheduler paused), while the letters those timers made are rendered beside it."""
    options = DaemonOptions(catch_up_days=0, inbox=False, worker="bench")
    started = time.perf_counter()
    daemon = Root(SimulatedClock(now)).daemon(settings, options)
    daemon.open()
    try:
        fired = daemon.worker.fire_timers()
        fired_at = time.perf_counter()
        daemon.reconcile()  # nothing left to fire: the outbox
        from escalation_flow.daemon.mirror import Mirror

        daemon.mirror = Mirror(daemon.worker, daemon.log)
        daemon.mirror.build(paused=True)
        ready = time.perf_counter() - fired_at
        letters = daemon.worker.letters
        assert letters is not None, "a daemon that serves renders letters beside its schedule"
        letters.wait()
        rendered = time.perf_counter() - fired_at
    finally:
        daemon.close()
    return _AfterDowntime(fired_at - started, len(fired), ready, rendered, letters.rendered)


# -- set-up ----------------------------------------------------------------------------------


def _build(
    path: Path, trust: Trust, marks: Path, roster: Path, day: date, total: int, overdue: int
) -> None:
    store = Store(f"sqlite:///{path}")
    try:
        store.migrate()
        store.upsert_schools(trust)
        imported = _local(day - timedelta(days=1), 17)
        store.import_marks(
            read_marks(marks, trust.calendars(), aliases=trust.aliases),
            file=marks,
            now=imported,
            by="bench",
        )
        store.import_roster(
            read_roster(roster, set(trust.schools), aliases=trust.aliases),
            file=roster,
            now=imported,
            by="bench",
        )
        _seed(store, trust, day, total, overdue)
    finally:
        store.dispose()


def _seed(store: Store, trust: Trust, day: date, total: int, overdue: int) -> None:
    """``overdue`` cases with one timer due the school day before ``day`` at 08:00; the rest of
    the ``total`` timers spread over the other pupils' cases, due on later school days."""
    service = Service(store, trust, SimulatedClock(_local(day, 8)), worker="seed")
    schools = service.schools()
    pupils = {s: sorted(store.load_roster(s).pupils) for s in schools}
    everyone = sum(len(p) for p in pupils.values())
    late_each = math.ceil(overdue / len(schools))
    per_case = math.ceil((total - overdue) / max(1, everyone - overdue))
    left_late, left_future = overdue, total - overdue
    for school in schools:
        setup = service.setup(school)
        cal = setup.calendar
        state, timer = next(
            (n, r.state.timers[0]) for n, r in setup.flow.states.items() if r.state.timers
        )
        stage = setup.flow.state(state).stage.number
        index = cal.day_index(day)
        opened = cal.school_days[index - 20]
        at = _local(opened, 16, 30)
        later_days = cal.school_days[index + 1 :]

        changes = []
        for i, pupil in enumerate(pupils[school]):
            if i < late_each and left_late > 0:
                timers = [_armed(setup, timer, at, 1, cal.school_days[index - 1], 8)]
                left_late -= 1
            else:
                n = min(per_case, left_future)
                if n <= 0:
                    break
                timers = [
                    _armed(
                        setup, timer, at, k + 1, later_days[(i + 7 * k) % len(later_days)],
                        8 + 5 * (k % 2),
                    )
                    for k in range(n)
                ]  # fmt: skip
                left_future -= n
            decisions: list[Decision] = [
                CaseOpened(on=opened, at=at, flow=setup.flow.id, flow_version=setup.flow.version),
                StageEntered(
                    on=opened,
                    at=at,
                    stage=stage,
                    state=state,
                    from_stage=0,
                    reason=Reason(trigger="override"),
                ),
                *timers,
            ]
            before = StoredCase(None, Case(school, pupil))
            changes.append(CaseChange(before, decisions, fold(school, pupil, decisions), ENGINE))
        with store.engine.begin() as conn:
            HistoryWriter(
                conn,
                school_id=school_id(conn, school),
                school=school,
                flow=setup.flow.id,
                flow_version=setup.flow.version,
                now=at,
                worker="seed",
            ).write(changes)


def _armed(
    setup: SchoolSetup, timer: Timer, at: datetime, key: int, due: date, hour: int
) -> TimerArmed:
    return TimerArmed(
        on=setup.local_date(at),
        at=at,
        timer_key=f"{timer.id}#{key}",
        timer=timer.id,
        due=due,
        fire_at=_local(due, hour),
        rule=str(timer.after),
        calendar_version=setup.calendar.version,
    )


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=LONDON).astimezone(UTC)
