"""APScheduler (3.x) as a mirror of our tables: the jobs are rebuilt from the timers table on
start and never trusted over it.

- one job per distinct instant at which pending timers fire (a burst due at 08:00 is one job),
  for the next ``max_timer_jobs`` instants; every job, when it has run, adds the instants armed
  since (or left beyond the horizon), so the mirror rolls forward;
- a sweep every ``sweep_seconds`` fires whatever is due, evaluates the evenings another
  daemon's lock put off (it may have held the school only for its timers), and re-reads the
  table (timers armed by another process: a staff action from the command line, another daemon);
- each school's evaluation at its registers' close, in its own zone, on weekdays (the job
  evaluates the school days that have closed and are not evaluated: half terms, holidays and
  closures have none; a run the machine slept through is caught up the next evening);
- the inbox, every ``inbox_seconds``;
- the outbox, every ``outbox_seconds``: approved letters queued, due emails sent.

Jobs run one at a time (a single worker thread), in memory: our tables hold the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from structlog.typing import FilteringBoundLogger

from escalation_flow.daemon.work import Worker

_JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


class Mirror:
    def __init__(
        self,
        worker: Worker,
        log: FilteringBoundLogger,
        *,
        max_timer_jobs: int = 1000,
        sweep_seconds: float = 60.0,
        inbox_seconds: float | None = 10.0,
        outbox_seconds: float | None = 30.0,
    ) -> None:
        self.worker = worker
        self.log = log
        self.max_timer_jobs = max_timer_jobs
        self.sweep_seconds = sweep_seconds
        self.inbox_seconds = inbox_seconds
        self.outbox_seconds = outbox_seconds
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults=_JOB_DEFAULTS,
            timezone="UTC",
        )
        self._instants: set[datetime] = set()
        self._lock = threading.Lock()

    # -- building --------------------------------------------------------------------------------

    def build(self, *, paused: bool = False) -> int:
        """Start the scheduler with every job rebuilt from the tables; how many timer jobs."""
        self.scheduler.start(paused=paused)
        for school, clock in self.worker.schools.items():
            trigger = CronTrigger(
                day_of_week="mon-fri",
                hour=clock.close.hour,
                minute=clock.close.minute,
                timezone=clock.zone,
            )
            self.scheduler.add_job(
                self._guarded(self.worker.evaluate_due, school, then_sync=True),
                trigger,
                id=f"school-day:{school}",
                name=f"evaluate {school} at {clock.close:%H:%M} {clock.zone.key}",
            )
        self.scheduler.add_job(
            self._guarded(self.worker.sweep, then_sync=True),
            IntervalTrigger(seconds=self.sweep_seconds),
            id="timers:sweep",
            name="fire what is due; evenings put off by another daemon; re-read the timers table",
        )
        if self.inbox_seconds is not None and self.worker.inbox is not None:
            self.scheduler.add_job(
                self._guarded(self.worker.take_inbox),
                IntervalTrigger(seconds=self.inbox_seconds),
                id="inbox",
                name=f"take in {self.worker.inbox.folder}",
            )
        if self.outbox_seconds is not None:
            self.scheduler.add_job(
                self._guarded(self.worker.send_letters),
                IntervalTrigger(seconds=self.outbox_seconds),
                id="outbox",
                name="queue approved letters; email what is due",
            )
        return self.sync()

    def sync(self) -> int:
        """Add a job for each instant pending timers fire at that has none yet; how many now."""
        now = self.worker.service.now()
        instants = self.worker.service.pending_fire_times(after=now, limit=self.max_timer_jobs)
        with self._lock:
            self._instants = {i for i in self._instants if i > now}
            for instant in instants:
                if instant in self._instants:
                    continue
                self.scheduler.add_job(
                    self._guarded(self.worker.fire_timers, then_sync=True),
                    DateTrigger(run_date=instant),
                    id=f"timers@{instant.isoformat()}",
                    name=f"fire the timers due at {instant.isoformat()}",
                    replace_existing=True,
                )
                self._instants.add(instant)
            return len(self._instants)

    def next_instant(self) -> datetime | None:
        with self._lock:
            return min(self._instants, default=None)

    # -- running ---------------------------------------------------------------------------------

    def _guarded(
        self, work: Callable[..., Any], *args: Any, then_sync: bool = False
    ) -> Callable[[], None]:
        """A job: skipped once the daemon is stopping; a failure is logged, never fatal."""

        def job() -> None:
            if self.worker.stopping.is_set():
                return
            try:
                work(*args)
                if then_sync and not self.worker.stopping.is_set():
                    self.sync()
            except Exception as exc:  # a job's failure must not stop the daemon
                self.log.exception(
                    "job.failed",
                    job=getattr(work, "__name__", str(work)),
                    error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )

        return job

    def stop(self, wait: bool = True) -> None:
        """Stop taking jobs; with ``wait``, let the job in hand finish (it stops between cases)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
