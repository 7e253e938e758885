"""Scale-out on PostgreSQL: 1, 2 and 4 daemon processes share one evening of a trust (issue 13).

Set-up, not timed: a trust of ``SCHOOLS`` schools (its own, generated into bench-data/scale_out:
the quick trust has two schools, too few to partition) imported into PostgreSQL up to a spring
day, a case with an overdue review timer for every pupil, and the day's marks imported. Timed, from a fresh copy for each count of daemons:
every process runs the daemon's own units of work (``daemon.work.Worker``: ``fire_timers``,
then ``catch_up``, which takes each school's advisory lock and evaluates its day, skipping a
school another daemon holds), started together; the figure is until the last one finishes.

Checked after each run (the run fails otherwise): every timer fired exactly once, every school's
day evaluated exactly once, and each case's history chain unbroken. Per-school figures are the
single daemon's. PostgreSQL only: ESCALATION_FLOW_BENCH_POSTGRES_URL, else
ESCALATION_FLOW_TEST_POSTGRES_URL; "skipped: no PostgreSQL" otherwise.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import BenchContext, Result
from benchmarks import daemon_day as dd

ORDER = 70
SCHOOLS = 8
PUPILS = 250
DAEMONS = (1, 2, 4)


def run(ctx: BenchContext) -> list[Result]:
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.logs import configure_logging

    configure_logging("json", "ERROR")
    try:
        dbs = dd._Databases("postgresql", ctx.data_dir)
    except RuntimeError as exc:
        print(f"scale_out: {exc}")
        return []
    folder = _trust(ctx)
    trust = load_trust(folder / "trust.yaml")
    day = dd._the_day(trust, ctx)
    work = folder / "work"
    work.mkdir(exist_ok=True)
    before, today = dd._split(folder / "marks.csv", day, work)
    results: list[Result] = []
    with dbs:
        template = _template(dbs, trust, day, before, today, folder / "roster.csv")
        one: float | None = None
        for daemons in DAEMONS:
            url = dbs.copy(template)
            seconds, fired = _evening(url, folder / "trust.yaml", day, daemons)
            _check(url, trust, day, fired)
            dbs.drop(url)
            one = seconds if one is None else one
            print(f"scale_out: {daemons} daemon(s): {seconds:.1f} s, {fired} timers fired")
            results.append(
                Result.of(
                    f"scale_out.evening_{daemons}_daemons_postgresql",
                    [seconds],
                    rates={"schools/s": SCHOOLS, "timers/s": fired},
                    extra={"s/school": seconds / SCHOOLS, "daemons": daemons},
                    baseline=("scale_out.evening_1_daemons_postgresql", one),
                )
            )
    return results


def _trust(ctx: BenchContext) -> Path:
    folder = ctx.data_dir.parent / "scale_out"
    if not (folder / "marks.csv").exists():
        command = [
            sys.executable, str(ctx.repo / "scripts" / "make_trust.py"), "--out", str(folder),
            "--schools", str(SCHOOLS), "--pupils-per-school", str(PUPILS), "--seed", "7",
            "--from", ctx.start, "--to", ctx.end,
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, text=True)
    return folder


def _template(
    dbs: dd._Databases, trust: Any, day: date, before: Path, today: Path, roster: Path
) -> str:
    from escalation_flow.adapters.register_files import read_marks
    from escalation_flow.adapters.store import Store

    base = dbs.new()
    dd._import_base(base, trust, before, roster, day)
    dd._seed_timers(base, trust, day)  # a case and an overdue review for every pupil
    store = Store(base)
    store.import_marks(
        read_marks(today, trust.calendars(), aliases=trust.aliases),
        file=today,
        now=dd._local(day, 17),
        by="bench",
    )
    store.dispose()
    return base


def _evening(url: str, trust_file: Path, day: date, daemons: int) -> tuple[float, int]:
    context = mp.get_context("spawn")
    go = context.Event()
    done = context.Queue()
    workers = [
        context.Process(target=_daemon, args=(url, str(trust_file), day, n, go, done))
        for n in range(daemons)
    ]
    for w in workers:
        w.start()
    for _ in workers:  # each says it is ready (imports done, flows read) before the clock starts
        done.get(timeout=600)
    started = time.perf_counter()
    go.set()
    fired = sum(done.get(timeout=1800) for _ in workers)
    seconds = time.perf_counter() - started
    for w in workers:
        w.join(timeout=60)
        if w.exitcode != 0:
            raise RuntimeError(f"a daemon process failed (exit {w.exitcode})")
    return seconds, fired


def _daemon(url: str, trust_file: str, day: date, n: int, go: Any, done: Any) -> None:
    """One daemon process: the daemon's units of work on a clock set to the day's evening."""
    from zoneinfo import ZoneInfo

    from escalation_flow.adapters.store import Store, marks_reader
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.clock import SimulatedClock
    from escalation_flow.daemon.work import SchoolClock, Worker
    from escalation_flow.logs import configure_logging, get_logger
    from escalation_flow.service import Service

    configure_logging("json", "ERROR")
    trust = load_trust(Path(trust_file))
    store = Store(url)
    store.keep_registers()
    clock = SimulatedClock(dd._local(day, 19))
    service = Service(store, trust, clock, worker=f"daemon:bench:{n}")
    schools = {
        s: SchoolClock(
            s, ZoneInfo(service.setup(s).calendar.timezone), service.setup(s).registers_close
        )
        for s in service.schools()
    }
    worker = Worker(
        service,
        schools,
        get_logger("bench"),
        catch_up_days=1,
        inbox=None,
        wall_seconds=time.monotonic,
        stopping=threading.Event(),
    )
    done.put(0)
    go.wait()
    fired = len(worker.fire_timers())
    worker.catch_up(clock.now())
    store.dispose()
    done.put(fired)
    done.close()
    done.join_thread()
    # the register helper's pool may wait for ever at interpreter exit in a spawned child
    marks_reader._forget_helper()
    os._exit(0)


def _check(url: str, trust: Any, day: date, fired: int) -> None:
    """Nothing done twice, nothing left undone."""
    from escalation_flow.adapters.store.cases import history
    from escalation_flow.core.chain import broken_links

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            due = dd._local(day, 19)
            overdue = conn.execute(
                sa.text("SELECT count(*) FROM timers WHERE status = 'pending' AND fire_at <= :t"),
                {"t": due},
            ).scalar_one()
            assert overdue == 0, f"{overdue} timers due were left pending"
            firings = conn.exec_driver_sql(
                "SELECT count(*) FROM case_events WHERE type = 'timer_fired'"
            ).scalar_one()
            assert firings == fired, f"{firings} timer_fired records for {fired} timers claimed"
            days = conn.execute(
                sa.text("SELECT count(*) FROM school_days WHERE day = :d"), {"d": day}
            ).scalar_one()
            assert days == len(trust.schools), f"{days} evaluations of {day}"
            cases = conn.exec_driver_sql(
                "SELECT c.id, s.key, c.pupil, c.length FROM cases c "
                "JOIN schools s ON s.id = c.school_id"
            ).all()
            for case_id, school, pupil, length in cases:
                rows = history(conn, case_id)
                bad = broken_links([(r.link(f"{school}/{pupil}"), r.hash) for r in rows])
                assert not bad and len(rows) == length, f"case {case_id}: broken chain"
    finally:
        engine.dispose()
