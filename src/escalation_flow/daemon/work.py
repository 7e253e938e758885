"""The daemon's units of work, shared by the scheduler's jobs, ``--once`` and the simulated
clock: fire the due timers, evaluate a school day, catch up on missed days, take in the inbox.

Each unit commits as it goes (the service writes each timer, each school day, each file in a
transaction of its own) and asks ``stopping`` between them, so a daemon told to stop finishes
the case in hand and no more.
"""

from __future__ import annotations

import threading
import time as wall
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from structlog.typing import FilteringBoundLogger

from escalation_flow.actors import AUTO  # completes tasks when told to (demos), as the backtest
from escalation_flow.daemon.inbox import Inbox, Outcome
from escalation_flow.daemon.letters import LetterThread
from escalation_flow.daemon.locks import school_day_lock
from escalation_flow.daemon.observer import NO_OBSERVER, DaemonObserver
from escalation_flow.daemon.warmup import WarmUp
from escalation_flow.errors import ConflictError
from escalation_flow.sending import LetterSender
from escalation_flow.service import Service
from escalation_flow.service.outbox import Drained
from escalation_flow.service.views import DayReport, FiredTimer

T = TypeVar("T")


#: A school day or a timer that lost a race with another writer is tried again this many times.
ATTEMPTS = 3


@dataclass(frozen=True)
class SchoolClock:
    """When a school's registers close, in its own zone."""

    school: str
    zone: ZoneInfo
    close: time

    def close_on(self, day: date) -> datetime:
        return datetime.combine(day, self.close, tzinfo=self.zone)


class Worker:
    def __init__(
        self,
        service: Service,
        schools: dict[str, SchoolClock],
        log: FilteringBoundLogger,
        *,
        catch_up_days: int,
        inbox: Inbox | None,
        wall_seconds: Callable[[], float],
        stopping: threading.Event,
    ) -> None:
        self.service = service
        self.schools = schools
        self.log = log
        self.catch_up_days = catch_up_days
        self.inbox = inbox
        self.wall_seconds = wall_seconds
        self.stopping = stopping
        #: demos and rehearsals: tasks due are done by "auto" as each day is evaluated
        self.auto_complete = False
        #: processes rendering letters after an evening (``Settings.letter_workers``)
        self.letter_workers: int | None = None
        #: the channel approved letters are emailed through (None: they wait in the outbox)
        self.sender: LetterSender | None = None
        #: told of evenings, timers, imports and letters where they are logged (the metrics)
        self.observer: DaemonObserver = NO_OBSERVER
        #: a daemon that serves its schedule renders letters beside it (None: in the job)
        self.letters: LetterThread | None = None
        #: evenings found under another daemon's lock, asked again at each sweep
        self.deferred: set[tuple[str, date]] = set()
        #: the start readying the first evening, told when an evening begins (it then stops)
        self.warm_up: WarmUp | None = None

    # -- timers ----------------------------------------------------------------------------------

    def fire_timers(self) -> list[FiredTimer]:
        """Every timer due by now, claimed and fired one by one (racing daemons share them)."""
        fired: list[FiredTimer] = []
        for _ in range(ATTEMPTS):
            if self.stopping.is_set():
                break
            try:
                fired += self.service.fire_due_timers(
                    self.service.now(),
                    stop=self.stopping.is_set,
                    school_guard=self._school_lock,
                )
                break
            except (ConflictError, IntegrityError) as exc:
                # another writer changed the same case first; that timer was rolled back
                self.log.warning("timers.retrying", reason=_reason(exc))
        self.observer.fired(len(fired))
        if fired and self.letters is not None:
            self.letters.ask()  # the letters those timers prepared, after their commits
        return fired

    def _school_lock(self, school: str) -> AbstractContextManager[bool]:
        """A school's timers are fired by the daemon holding its lock (the evening's), so that
        daemons on one PostgreSQL divide the schools and each register is read by one of them;
        a school held by another is left to it (its timers stay pending for the next look)."""
        return school_day_lock(self.service.store.engine, school)

    # -- school days -----------------------------------------------------------------------------

    def evaluate(self, school: str, day: date) -> DayReport | None:
        """One school day (a no-op if it was evaluated); None if another daemon is on it."""
        if self.warm_up is not None:
            self.warm_up.evening_begins()
        with school_day_lock(self.service.store.engine, school) as mine:
            if not mine:
                # The other daemon may hold the school only to fire its timers or read its
                # register ahead, not for this evening: ask again at the next sweep.
                self.deferred.add((school, day))
                self.log.info("day.taken_by_other", school=school, day=day.isoformat())
                return None
            if self.auto_complete:
                self._complete_universal_tasks(school, day)
            began = wall.perf_counter()  # a duration for the metrics, not a clock reading
            report = _retrying(
                lambda: self.service.run_day(school, day, auto_complete=self.auto_complete),
                self.log,
                school=school,
                day=str(day),
            )
        if report is not None and report.skipped:
            self.log.debug("day.already_evaluated", school=school, day=day.isoformat())
        elif report is not None:
            self.observer.evening(school, wall.perf_counter() - began, report.timers_fired)
        return report

    def _complete_universal_tasks(self, school: str, day: date) -> None:
        """Auto-completion's share the school day leaves out: tasks without a case (the
        first-day calls) due by ``day`` are done by "auto" half an hour before registers close,
        with their first outcome, as the engine completes a case's tasks."""
        specs = {u.task.id: u.task for u in self.service.setup(school).flow.definition.universal}
        at = self.schools[school].close_on(day) - timedelta(minutes=30)
        for task in self.service.tasks(school=school, due_by=day):
            spec = specs.get(task.task)
            if task.case_id is None and spec is not None:
                outcome = spec.outcomes[0] if spec.outcomes else None
                try:
                    self.service.complete_task(task.id, outcome, AUTO, at=at)
                except ConflictError as exc:  # done or lapsed by another writer (run-day) first
                    self.log.info("task.auto_skipped", task_id=task.id, reason=_reason(exc))

    def sweep(self) -> list[FiredTimer]:
        """The periodic job: every timer due, then the evenings another daemon's lock put off
        (each a no-op if that daemon evaluated it meanwhile)."""
        fired = self.fire_timers()
        self.evaluate_deferred()
        return fired

    def evaluate_deferred(self) -> list[DayReport]:
        """The evenings this daemon found another daemon's lock on, asked again; one still
        held stays deferred to the next sweep."""
        reports = []
        for school, day in sorted(self.deferred):
            if self.stopping.is_set():
                break
            self.deferred.discard((school, day))
            report = self.evaluate(school, day)
            if report is not None and not report.skipped:
                reports.append(report)
        if any(r.letters_prepared for r in reports):
            self.letters_after_commits()
        return reports

    def evaluate_due(self, school: str) -> list[DayReport]:
        """The scheduled evening job: the school's days whose registers have closed and that
        are not evaluated yet (today's, and any the job missed, within the catch-up window)."""
        now = self.service.now()
        last = self.service.last_evaluated_days().get(school)
        days = self._closed_since(school, self.schools[school], last, now)
        reports = []
        for day in days[-max(self.catch_up_days, 1) :]:
            if self.stopping.is_set():
                break
            report = self.evaluate(school, day)
            if report is not None:
                reports.append(report)
        if any(r.letters_prepared for r in reports):
            self.letters_after_commits()
        return reports

    # -- letters ---------------------------------------------------------------------------------

    def letters_after_commits(self) -> None:
        """The letters just prepared (and any left to render), after the commits that prepared
        them, never inside them: beside the schedule when the daemon serves one, else here."""
        if self.letters is not None:
            self.letters.ask()
        else:
            self.render_letters()

    def render_letters(self, stop: Callable[[], bool] | None = None) -> int:
        """Every letter left to render (``service/letter_pool.py``); a failure is logged and
        the letters stay to render for the next evening or start. ``stop()``: leave the letters
        not started yet once it says so."""
        try:
            return self.service.render_letters(workers=self.letter_workers, stop=stop)
        except Exception as exc:
            self.log.error("letters.not_rendered", reason=_reason(exc))
            return 0

    def send_letters(self) -> Drained | None:
        """Queue the letters approved since the last round, then email what is due (each row
        claimed, sent, recorded); a failure is logged and the rows wait for the next round."""
        try:
            self.service.outbox.emails = self.sender is not None
            queued = self.service.outbox.queue()
            if self.sender is None:
                self.observer.letters(queued.letters, 0, 0)
                return None
            done = self.service.outbox.drain(self.sender, stop=self.stopping.is_set)
        except Exception as exc:
            self.log.error("outbox.failed", reason=_reason(exc))
            return None
        self.observer.letters(queued.letters, done.sent, done.failed)
        if done.results or done.unavailable:
            self.log.info("outbox.drained", sent=done.sent, retrying=done.retrying,
                          failed=done.failed, set_aside=done.set_aside,
                          unavailable=done.unavailable)  # fmt: skip
        return done

    def missed_days(self, now: datetime) -> tuple[list[tuple[date, str]], int]:
        """School days whose registers closed by ``now`` and were never evaluated, oldest first
        across schools (at most ``catch_up_days`` a school); and how many older ones are left."""
        last = self.service.last_evaluated_days()
        due: list[tuple[date, str]] = []
        left_out = 0
        for school, clock in self.schools.items():
            days = self._closed_since(school, clock, last.get(school), now)
            keep = days[-self.catch_up_days :] if self.catch_up_days else []
            left_out += len(days) - len(keep)
            due += [(d, school) for d in keep]
        return sorted(due), left_out

    def _closed_since(
        self, school: str, clock: SchoolClock, last: date | None, now: datetime
    ) -> list[date]:
        cal = self.service.setup(school).calendar
        today = now.astimezone(clock.zone).date()
        end = cal.index_on_or_before(today)
        if end >= 0 and clock.close_on(cal.school_days[end]) > now:
            end -= 1
        start = cal.index_on_or_before(last) + 1 if last is not None else 0
        if last is None:  # never evaluated: only the catch-up window, not the whole calendar
            start = max(0, end + 1 - max(self.catch_up_days, 1))
        return list(cal.school_days[max(start, 0) : end + 1])

    def catch_up(self, now: datetime) -> tuple[list[DayReport], int]:
        days, left_out = self.missed_days(now)
        reports: list[DayReport] = []
        for day, school in days:
            if self.stopping.is_set():
                break
            report = self.evaluate(school, day)
            if report is not None and not report.skipped:
                reports.append(report)
        return reports, left_out

    # -- inbox -----------------------------------------------------------------------------------

    def take_inbox(self, wait: bool = False) -> list[Outcome]:
        """Import every settled inbox file; ``wait``: first let files still changing settle."""
        if self.inbox is None:
            return []
        taken, settling = self.inbox.ready(self.wall_seconds())
        if wait and settling:
            self.stopping.wait(self.inbox.settle_seconds)
            taken += self.inbox.ready(self.wall_seconds())[0]
        outcomes: list[Outcome] = []
        for path in sorted(set(taken)):
            if self.stopping.is_set():
                break
            try:
                outcome = self.inbox.take(path, self.service, self.service.now())
            except (DBAPIError, ConflictError, OSError) as exc:  # a busy database: next look
                self.log.error("inbox.failed", file=str(path), reason=_reason(exc))
                continue
            outcomes.append(outcome)
            self._log_outcome(outcome)
        return outcomes

    def _log_outcome(self, outcome: Outcome) -> None:
        if outcome.summary is not None:
            s = outcome.summary
            self.log.info(
                "inbox.imported",
                file=outcome.file.name,
                kind=s.kind,
                rows=s.rows_read,
                imported=s.imported,
                already_known=s.already_known,
                moved_to=str(outcome.moved_to),
            )
            self.observer.imported(s.kind, s.imported, s.rejected)
        else:
            self.log.warning(
                "inbox.rejected",
                file=outcome.file.name,
                problem=outcome.problem,
                reasons=str(outcome.reasons),
            )
            self.observer.file_rejected(outcome.rows_refused)


def _retrying(work: Callable[[], T], log: FilteringBoundLogger, **where: str) -> T | None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return work()
        except (ConflictError, IntegrityError) as exc:
            log.warning("day.retrying", attempt=attempt, reason=_reason(exc), **where)
    log.error("day.failed", reason=f"still conflicting after {ATTEMPTS} attempts", **where)
    return None


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
