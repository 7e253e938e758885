"""Retention: what the trust's policy makes due today, and the run that erases it.

The policy is the trust file's ``retention:`` section (none: nothing is ever due, and the
commands say how to add one). ``today`` is the trust's local date on the service's clock. A
run is always recorded: a dry run in the staff audit log (chained), a real run as a record on
the ``retention`` chain that ``audit verify`` reads (``adapters/store/erasure.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock
from escalation_flow.core.retention import Hold, RetentionPlan, RetentionPolicy
from escalation_flow.errors import InputError
from escalation_flow.logs import get_logger

if TYPE_CHECKING:
    from escalation_flow.service.service import Service


class RetentionBook(Protocol):
    """What retention needs of the store (``adapters.store.retention.SqlRetention``)."""

    def plan(self, policy: RetentionPolicy, today: date) -> RetentionPlan: ...
    def apply(
        self, policy: RetentionPolicy, today: date, by: str, now: datetime
    ) -> tuple[RetentionPlan, dict[str, Any]]: ...
    def record_dry_run(self, found: RetentionPlan, by: str, now: datetime) -> None: ...
    def place_hold(self, school: str, pupil: str, reason: str, by: str, now: datetime) -> int: ...
    def release_hold(self, hold_id: int, reason: str, by: str, now: datetime) -> Hold: ...
    def holds(self, standing: bool = True) -> list[Hold]: ...
    def runs(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RunResult:
    plan: RetentionPlan
    dry_run: bool
    record: dict[str, Any] | None  # the chained run's body (None for a dry run)


class Retention:
    """The data protection officer's desk: due, apply, holds, runs."""

    def __init__(self, book: RetentionBook, trust: Trust, clock: Clock) -> None:
        self.book = book
        self.trust = trust
        self.clock = clock
        self.log = get_logger("escalation_flow.retention")

    @property
    def policy(self) -> RetentionPolicy:
        if self.trust.retention is None:
            raise InputError(
                f"the trust file {self.trust.path} has no retention policy: add "
                "`retention: {registers_years: 6, closed_cases_years: N}` "
                "(docs/data-protection.md); nothing is erased without one"
            )
        return self.trust.retention

    def today(self) -> date:
        return self.clock.now().astimezone(ZoneInfo(self.trust.timezone)).date()

    def due(self, today: date | None = None) -> RetentionPlan:
        return self.book.plan(self.policy, today or self.today())

    def apply(self, by: str, *, dry_run: bool) -> RunResult:
        """Erase what is due today (or, ``dry_run``, only say what would be), recorded."""
        now, today = self.clock.now(), self.today()
        if dry_run:
            found = self.book.plan(self.policy, today)
            self.book.record_dry_run(found, by, now)
            self.log.info("retention.dry_run", by=by, today=today.isoformat(), **found.counts())
            return RunResult(found, True, None)
        found, record = self.book.apply(self.policy, today, by, now)
        self.log.info(
            "retention.applied", by=by, today=today.isoformat(), run=record["run"],
            **record["counts"],
        )  # fmt: skip
        return RunResult(found, False, record)

    def hold(self, school: str, pupil: str, reason: str, by: str) -> int:
        school = self.trust.resolve_school(school)
        hold_id = self.book.place_hold(school, pupil, reason, by, self.clock.now())
        self.log.info("retention.held", hold=hold_id, school=school, by=by)
        return hold_id

    def release(self, hold_id: int, reason: str, by: str) -> Hold:
        found = self.book.release_hold(hold_id, reason, by, self.clock.now())
        self.log.info("retention.released", hold=hold_id, by=by)
        return found

    def holds(self, standing: bool = True) -> list[Hold]:
        return self.book.holds(standing)

    def runs(self) -> list[dict[str, Any]]:
        return self.book.runs()


def retention_of(service: Service) -> Retention | None:
    """Retention over the service's store, on its clock (the command line's and the pages'
    one construction); None for a store without it (tests' in-memory stores)."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.retention import SqlRetention
    from escalation_flow.settings import load_settings

    if not isinstance(service.store, Store):
        return None
    files = load_settings().register_snapshots_dir  # the daemon's files, deleted after a run
    return Retention(SqlRetention(service.store.engine, files), service.trust, service.clock)
