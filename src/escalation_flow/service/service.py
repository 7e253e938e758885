"""``Service``: the use cases the daemon, the command line and the pages share, in one object.

Each family of use cases is a class of its own over one ``ServiceContext`` (the store, the trust,
the clock): ``days`` (school days and timers), ``staff`` (staff actions), ``letters`` (the letter
desk) and ``queries`` (read models). ``Service`` builds them and keeps the names the command
line, the daemon and the pages call (``service.run_day``, ``service.task``, ...) as plain
delegations; new code may call a family directly (``service.days.fire_due_timers()``).

Loads from the store, runs the pure engine (``core``), writes what it decided in one
transaction, then logs one event per thing that happened. Every instant it writes comes from
its ``Clock``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from structlog.typing import FilteringBoundLogger

from escalation_flow.actors import Actors
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock
from escalation_flow.core.decisions import Decision
from escalation_flow.ports import AuditNote, CaseTransaction, PenaltyNoticeBook, SchoolFiguresBook
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.days import SchoolDays
from escalation_flow.service.families import FamilyReads
from escalation_flow.service.letter_desk import LetterCopies, LetterDesk
from escalation_flow.service.outbox import LetterOutbox
from escalation_flow.service.penalty_notices import PenaltyNoticeDesk
from escalation_flow.service.queries import Queries
from escalation_flow.service.register import SchoolSetup
from escalation_flow.service.school_figures import SchoolFiguresDesk
from escalation_flow.service.staff import ActionsReport, StaffActions
from escalation_flow.service.timer_firing import SchoolGuard
from escalation_flow.service.undo import Undoing
from escalation_flow.service.views import (
    CaseLine,
    CaseView,
    DayReport,
    FiredTimer,
    LetterView,
    StatusReport,
    TaskView,
)


class Service:
    """Use cases over one store and one trust, on one clock; ``worker`` names this process in
    what it writes (``school_days.worker``, ``timers.claimed_by``). Built by ``bootstrap``."""

    def __init__(
        self,
        store: Store,
        trust: Trust,
        clock: Clock,
        *,
        worker: str = "cli",
        actors: Actors | None = None,
    ) -> None:
        self.store = store
        self.ctx = ServiceContext(store, trust, clock, worker=worker)
        self.queries = Queries(self.ctx)
        # each school's headline figures, kept by the evening for the dashboards (SQL store only)
        book = store if isinstance(store, SchoolFiguresBook) else None
        self.figures = SchoolFiguresDesk(self.ctx, book)
        self.days = SchoolDays(self.ctx, self.figures)
        # who may be named as acting; the composition root hands in the store's staff table
        self.staff = StaffActions(self.ctx, self.queries, actors)
        self.letters = LetterDesk(self.ctx, actors)
        # withdrawing one's own action within 15 minutes, as a recorded correction
        self.undo = Undoing(self.ctx, actors)
        # contacts and siblings (issue 16): every store keeps contacts (``ports.ContactBook``)
        self.families = FamilyReads(self.ctx, store)
        # the penalty-notice register (issue 16); the memory store keeps none
        register = store if isinstance(store, PenaltyNoticeBook) else None
        self.penalty_notices = PenaltyNoticeDesk(self.ctx, register, self.families, actors)
        self._outbox: LetterOutbox | None = None

    @property
    def outbox(self) -> LetterOutbox:
        """Approved letters queued, emailed and printed (issue 15); the SQL store's only."""
        if self._outbox is None:
            from escalation_flow.adapters.store.outbox import SqlOutbox

            self._outbox = LetterOutbox(
                self.ctx, SqlOutbox(self.store.engine), self.letters.copy_pdf
            )
        return self._outbox

    # -- what every use case shares ----------------------------------------------------------

    @property
    def trust(self) -> Trust:
        return self.ctx.trust

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def worker(self) -> str:
        return self.ctx.worker

    @property
    def log(self) -> FilteringBoundLogger:
        return self.ctx.log

    def now(self) -> datetime:
        return self.ctx.now()

    def schools(self) -> list[str]:
        return self.ctx.schools()

    def ensure_schools(self) -> None:
        self.ctx.ensure_schools()

    def setup(self, school: str) -> SchoolSetup:
        return self.ctx.setup(school)

    def setup_at(
        self, school: str, version: str, tx: CaseTransaction | None = None
    ) -> SchoolSetup:
        return self.ctx.setup_at(school, version, tx)

    # -- school days and timers (``SchoolDays``) ---------------------------------------------

    def run_day(
        self, school: str, day: date, *, force: bool = False, auto_complete: bool = False
    ) -> DayReport:
        return self.days.run_day(school, day, force=force, auto_complete=auto_complete)

    def run_trust_day(self, day: date, *, force: bool = False) -> list[DayReport]:
        return self.days.run_trust_day(day, force=force)

    def fire_due_timers(
        self,
        now: datetime | None = None,
        *,
        stop: Callable[[], bool] | None = None,
        school_guard: SchoolGuard | None = None,
    ) -> list[FiredTimer]:
        return self.days.fire_due_timers(now, stop=stop, school_guard=school_guard)

    def pending_fire_times(
        self, after: datetime | None = None, limit: int = 1000
    ) -> list[datetime]:
        return self.days.pending_fire_times(after, limit)

    def last_evaluated_days(self) -> dict[str, date]:
        return self.days.last_evaluated_days()

    # -- staff (``StaffActions``) ------------------------------------------------------------

    def complete_task(
        self,
        task_id: int,
        outcome: str | None,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
        *,
        audit: AuditNote | None = None,
    ) -> TaskView:
        return self.staff.complete_task(task_id, outcome, by, note, at, audit=audit)

    def record_event(
        self,
        school: str,
        pupil: str,
        event: str,
        by: str,
        outcome: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> list[Decision]:
        return self.staff.record_event(school, pupil, event, by, outcome, note, at)

    def override(self, school: str, pupil: str, stage: int, reason: str, by: str) -> list[Decision]:
        return self.staff.override(school, pupil, stage, reason, by)

    def apply_actions(self, path: Path, *, skip_invalid: bool = False) -> ActionsReport:
        return self.staff.apply_actions(path, skip_invalid=skip_invalid)

    # -- letters (``LetterDesk``) ------------------------------------------------------------

    def letter(self, letter_id: int) -> LetterView:
        return self.letters.letter(letter_id)

    def letter_copies(self, letter_id: int) -> LetterCopies:
        return self.letters.copies(letter_id)

    def letter_pdf(self, letter_id: int) -> bytes:
        return self.letters.pdf(letter_id)

    def approve_letter(
        self, letter_id: int, by: str, *, audit: AuditNote | None = None
    ) -> LetterView:
        return self.letters.approve(letter_id, by, audit=audit)

    def render_letters(
        self,
        limit: int | None = None,
        workers: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        return self.letters.render_pending(limit, workers, stop)

    # -- what is due, what happened (``Queries``) --------------------------------------------

    def tasks(
        self,
        school: str | None = None,
        role: str | None = None,
        due_by: date | None = None,
        include_universal: bool = True,
    ) -> list[TaskView]:
        return self.queries.tasks(school, role, due_by, include_universal)

    def task(self, task_id: int) -> TaskView:
        return self.queries.task(task_id)

    def case_lines(self, school: str, status: str | None = None) -> list[CaseLine]:
        return self.queries.case_lines(school, status)

    def case(self, school: str, pupil: str) -> CaseView:
        return self.queries.case(school, pupil)

    def status(self) -> StatusReport:
        return self.queries.status()
