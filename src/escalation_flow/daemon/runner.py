"""The daemon: start (every check before anything is written), reconcile, mirror, run, stop.

Start order: the database reachable and migrated; the trust file, every flow passing its checks
and every calendar loading; on SQLite the database's lock (one daemon per file). Then
reconcile: take in the inbox, evaluate the school days whose registers closed while the daemon
was down (at most ``catch_up_days`` a school, oldest first), fire every timer that came due, in
due order, each recording how late it was. Then the scheduler mirrors the tables until a signal:
the first ``SIGTERM``/``SIGINT`` lets the case in hand finish and stops (exit 0), a second one
stops at once.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from sqlalchemy.engine import URL

from escalation_flow.actors import daemon_worker
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.engine import sqlite_path
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock, SystemClock
from escalation_flow.daemon.inbox import Inbox, Outcome
from escalation_flow.daemon.letters import LetterThread
from escalation_flow.daemon.locks import SqliteLock
from escalation_flow.daemon.mirror import Mirror
from escalation_flow.daemon.observer import NO_OBSERVER, DaemonObserver
from escalation_flow.daemon.startup import (
    check_schools,
    database_url,
    read_trust,
    shown,
)
from escalation_flow.daemon.warmup import WarmUp
from escalation_flow.daemon.work import SchoolClock, Worker
from escalation_flow.logs import get_logger
from escalation_flow.notify import READY, STOPPING, notify
from escalation_flow.notify import status as notify_status
from escalation_flow.sending import LetterSender
from escalation_flow.service import Service
from escalation_flow.service.views import DayReport, FiredTimer
from escalation_flow.settings import Settings


class Wiring(Protocol):
    """What the daemon is built from (``bootstrap.Root``): its clock, its store, its service."""

    @property
    def clock(self) -> Clock: ...

    def daemon_store(self, url: URL) -> Store: ...

    def build_service(
        self, store: Store, trust: Trust, *, worker: str = "cli", clock: Clock | None = None
    ) -> Service: ...

    def letter_sender(self, settings: Settings | None = None) -> LetterSender | None: ...


@dataclass(frozen=True)
class DaemonOptions:
    once: bool = False
    catch_up_days: int = 5  # school days a school's missed evaluations go back, at most
    inbox_seconds: float = 10.0  # how often the inbox is looked at
    sweep_seconds: float = 60.0  # how often the timers table is re-read in full
    max_timer_jobs: int = 1000  # distinct fire instants mirrored ahead at once
    settle_seconds: float = 2.0  # an inbox file untouched this long is complete
    outbox_seconds: float = 30.0  # how often approved letters are queued and the outbox drained
    inbox: bool = True
    worker: str | None = None
    simulated: bool = False  # on a simulated clock (the demo): no inbox, no scheduler

    @property
    def mode(self) -> str:
        return "simulated" if self.simulated else "once" if self.once else "run"


@dataclass
class Reconciled:
    """What a start (or ``--once``) caught up on."""

    inbox: list[Outcome] = field(default_factory=list)
    days: list[DayReport] = field(default_factory=list)
    days_left_out: int = 0  # missed school days older than the catch-up window
    timers: list[FiredTimer] = field(default_factory=list)
    #: letters left to render (those the catch-up prepared, those a crash after a commit left)
    #: rendered; a daemon that goes on to serve renders them beside its schedule instead (0)
    letters: int = 0
    emailed: int = 0  # letters the outbox held (a restart mid-outbox) emailed

    @property
    def timers_fired(self) -> int:
        return len(self.timers) + sum(d.timers_fired for d in self.days)

    @property
    def max_late_seconds(self) -> int:
        return max((t.late_seconds for t in self.timers), default=0)


class Daemon:
    def __init__(self, settings: Settings, options: DaemonOptions, wiring: Wiring) -> None:
        self.settings = settings
        self.options = options
        self.wiring = wiring
        self.clock = wiring.clock
        self.name = options.worker or daemon_worker(socket.gethostname(), os.getpid())
        self.log = get_logger("escalation_flow.daemon").bind(worker=self.name)
        self.stopping = threading.Event()
        self.store: Store | None = None
        self.lock: SqliteLock | None = None
        self._worker: Worker | None = None
        self.mirror: Mirror | None = None
        #: readying the first evening beside the schedule (``warm_beside``)
        self.warming: WarmUp | None = None
        #: told of evenings, timers, imports and letters (the metrics; ``--metrics-port``)
        self.observer: DaemonObserver = NO_OBSERVER

    @property
    def worker(self) -> Worker:
        if self._worker is None:
            raise RuntimeError("the daemon has not been opened")
        return self._worker

    @property
    def service(self) -> Service:
        return self.worker.service

    # -- start -----------------------------------------------------------------------------------

    def open(self) -> None:
        """Every check, then the lock; raises a typed error (nothing written) if one fails."""
        url = database_url(self.settings.database_url)
        store = self.wiring.daemon_store(url)
        try:
            trust = read_trust(self.settings.trust_file)
            service = self.wiring.build_service(store, trust, worker=self.name)
            check_schools(service)
            schools = {
                school: SchoolClock(
                    school,
                    service.setup(school).zone,
                    service.setup(school).registers_close,
                )
                for school in service.schools()
            }
            database = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
            if database is not None:
                self.lock = SqliteLock(database)
                self.lock.acquire()
        except BaseException:
            store.dispose()
            raise
        if self.settings.daemon_keeps_registers:
            # one process, evening after evening: read only what is new
            store.keep_registers(register_snapshots(self.settings.register_snapshots_dir, url))
        self.store = store
        inbox = None
        if self.options.inbox:
            inbox = Inbox(self.settings.inbox_dir, self.options.settle_seconds)
            inbox.prepare()
        self._worker = Worker(
            service,
            schools,
            self.log,
            catch_up_days=self.options.catch_up_days,
            inbox=inbox,
            wall_seconds=lambda: SystemClock().now().timestamp(),
            stopping=self.stopping,
        )
        self._worker.letter_workers = self.settings.letter_workers
        self._worker.observer = self.observer
        if not (self.options.once or self.options.simulated):
            # a daemon that goes on to serve its schedule renders letters beside it; --once
            # and the demo render them before they return
            self._worker.letters = LetterThread(self._worker.render_letters, self.stopping)
        if not self.options.simulated:  # the demo's simulated clock emails nobody
            self._worker.sender = self.wiring.letter_sender(self.settings)
        self.log.info(
            "daemon.started",
            database=shown(url),
            trust=str(self.settings.trust_file),
            schools=len(schools),
            inbox=str(self.settings.inbox_dir) if inbox else None,
            mode=self.options.mode,
        )

    def reconcile(self) -> Reconciled:
        """What came due while the daemon was down: the inbox, missed days, overdue timers."""
        done = Reconciled()
        worker = self.worker
        done.inbox = worker.take_inbox(wait=self.options.once)
        now = self.service.now()
        done.days, done.days_left_out = worker.catch_up(now)
        if done.days_left_out:
            self.log.warning(
                "daemon.days_not_caught_up",
                days=done.days_left_out,
                hint="older than the catch-up window; `escalation-flow run-day --date D` "
                "evaluates them",
            )
        done.timers = worker.fire_timers()
        if worker.letters is not None:
            worker.letters.ask()  # beside the schedule: the start does not wait for PDFs
        else:
            done.letters = worker.render_letters()
        if not self.options.simulated:
            drained = worker.send_letters()
            done.emailed = drained.sent if drained else 0
        self.log.info(
            "daemon.reconciled",
            inbox_files=len(done.inbox),
            days_evaluated=len(done.days),
            letters_rendered=done.letters,
            letters_beside_schedule=worker.letters is not None,
            letters_emailed=done.emailed,
            overdue_timers=done.timers_fired,
            max_late_seconds=done.max_late_seconds,
        )
        return done

    # -- run -------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Mirror the tables in the scheduler and run until told to stop."""
        self.mirror = Mirror(
            self.worker,
            self.log,
            max_timer_jobs=self.options.max_timer_jobs,
            sweep_seconds=self.options.sweep_seconds,
            inbox_seconds=self.options.inbox_seconds if self.options.inbox else None,
            outbox_seconds=self.options.outbox_seconds,
        )
        jobs = self.mirror.build()
        following = self.mirror.next_instant()
        self.log.info(
            "daemon.scheduled",
            timer_jobs=jobs,
            next_timer=following.isoformat() if following else None,
            schools=len(self.worker.schools),
        )
        self.warm_beside()
        while not self.stopping.wait(0.5):
            pass
        self.mirror.stop(wait=True)

    def warm_beside(self) -> None:
        """Ready the first evening beside the schedule (``daemon/warmup.py``): a daemon that
        keeps registers only (one that reads them whole each evening keeps nothing between)."""
        if not self.settings.daemon_keeps_registers or self.store is None:
            return
        self.warming = WarmUp(self.service, self.store, self.log, self.stopping)
        self.worker.warm_up = self.warming
        self.warming.start()

    def close(self) -> None:
        if self.mirror is not None:
            self.mirror.stop(wait=False)
        if self._worker is not None and self._worker.letters is not None:
            # the letters being rendered are kept; those not started stay to render
            self._worker.letters.close(wait=True)
        if self.warming is not None:
            # before the registers are saved: what it reads is kept, and saved with the rest
            self.warming.close()
        if self.store is not None:
            # saved while the lock is held: a restore waits for it (SQLite), else it could put
            # another database in place and delete the folder before these files of the one
            # replaced are written
            try:  # a file a school: the next start's first evening reads only what is new
                saved = self.store.save_registers()
                if saved:
                    self.log.info("register_snapshot.saved", schools=saved)
            except Exception as exc:  # never keeps the daemon from stopping; the next reads whole
                self.log.warning("register_snapshot.not_saved", error=str(exc))
        if self.lock is not None:
            self.lock.release()
        if self.store is not None:
            self.store.dispose()


def register_snapshots(setting: str | None, url: URL) -> Path | None:
    """The folder of the kept registers' files (``register_snapshots.snapshots_root``: the one
    resolution, that of the commands that delete them too)."""
    from escalation_flow.adapters.store.register_snapshots import snapshots_root

    return snapshots_root(setting, url)


def run_daemon(daemon: Daemon) -> Reconciled | None:
    """The command: start, reconcile, then run until a signal (or return, with ``once``)."""
    options = daemon.options
    with stop_signals(daemon):
        daemon.open()
        # Ready once every start check passed and the lock is held: catching up may take longer
        # than systemd's start timeout, and it is the daemon's normal work, not its start.
        notify(READY)
        notify_status("catching up on what came due while stopped")
        try:
            done = daemon.reconcile()
            if not options.once and not daemon.stopping.is_set():
                notify_status("running: timers mirrored, evenings scheduled")
                daemon.serve()
        finally:
            notify(STOPPING)
            daemon.close()
            daemon.log.info("daemon.stopped")
    return done


def _stop(daemon: Daemon, signal_name: str) -> None:
    notify(STOPPING)
    daemon.stopping.set()
    daemon.log.info("daemon.stopping", signal=signal_name, finishing="the case in hand")


@contextmanager
def stop_signals(daemon: Daemon) -> Iterator[None]:
    """First SIGTERM/SIGINT: finish the case in hand, then stop. Second: stop at once."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if daemon.stopping.is_set():
            daemon.log.warning("daemon.stopped_at_once", signal=name)
            os._exit(128 + signum)
        # Not here: the main thread may be inside stopping.wait(), holding the event's lock, and
        # the handler (run on the main thread) would wait for it for ever. A thread of its own.
        threading.Thread(target=_stop, args=(daemon, name), daemon=True).start()

    if threading.current_thread() is not threading.main_thread():
        yield  # signals can only be caught on the main thread (tests call from elsewhere)
        return
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
