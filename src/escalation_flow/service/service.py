"""The service: the use cases the daemon, the command line and the pages share.

Loads from the store, runs the pure engine (``core``), writes what it decided in one
transaction, then logs one event per thing that happened. Every instant it writes comes from
its ``Clock``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.engine import Connection
from structlog.typing import FilteringBoundLogger

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_store import load_flow_versions, store_flow_version
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock
from escalation_flow.core.decisions import Decision, Stimulus
from escalation_flow.core.definition import Flow
from escalation_flow.errors import ActionError, FlowError, NotFoundError
from escalation_flow.logs import get_logger
from escalation_flow.service import days, letter_desk, queries, staff, timetable
from escalation_flow.service.register import SchoolSetup
from escalation_flow.service.staff import ActionsReport
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
    what it writes (``school_days.worker``, ``timers.claimed_by``)."""

    def __init__(self, store: Store, trust: Trust, clock: Clock, *, worker: str = "cli") -> None:
        self.store = store
        self.trust = trust
        self.clock = clock
        self.worker = worker
        self.log: FilteringBoundLogger = get_logger("escalation_flow.service")
        self._setups: dict[str, SchoolSetup] = {}
        self._flows: dict[Path, Flow] = {}
        self._schools_known = False
        self._kept_flow_versions: set[str] = set()
        self._stored_flows: dict[str, Flow] = {}
        self._version_setups: dict[tuple[str, str], SchoolSetup] = {}

    # -- set-up ----------------------------------------------------------------------------------

    def keep_flow_version(self, conn: Connection, flow: Flow, now: datetime) -> None:
        """Make sure the flow text a replay re-runs these records on is stored. Asked once per
        version and process: a version found already stored (so committed) is not asked again,
        which spares a query for every timer of a burst."""
        if flow.version in self._kept_flow_versions:
            return
        if not store_flow_version(conn, flow, now):
            self._kept_flow_versions.add(flow.version)

    def now(self) -> datetime:
        instant = self.clock.now()
        if instant.tzinfo is None:
            raise ValueError("the service's clock must give timezone-aware instants")
        return instant.astimezone(UTC)

    def setup(self, school: str) -> SchoolSetup:
        """A school (by id or URN) with its flow and calendar, read once."""
        key = self.trust.resolve_school(school)
        if key not in self._setups:
            from escalation_flow.adapters.school_flows import school_flow

            config = self.trust.school(key)
            shared = config.flow_path if not config.overrides else None
            flow = self._flows.get(shared) if shared else None
            if flow is None:
                flow = school_flow(self.trust, key)  # overrides written in: a version of its own
                if shared:
                    self._flows[shared] = flow
            self._setups[key] = SchoolSetup(key, config, flow, self.trust.calendar(key))
        return self._setups[key]

    def setup_at(self, school: str, version: str, conn: Connection | None = None) -> SchoolSetup:
        """The school's set-up with the flow version a case runs under: the school's flow file
        when ``version`` is its version (or empty), else that earlier version's stored text
        (open cases stay on the version they were opened under until a recorded migration)."""
        setup = self.setup(school)
        if not version or version == setup.flow.version:
            return setup
        key = (setup.school, version)
        if key not in self._version_setups:
            flow = self.stored_flow(version, conn)
            self._version_setups[key] = dataclasses.replace(setup, flow=flow)
        return self._version_setups[key]

    def stored_flow(self, version: str, conn: Connection | None = None) -> Flow:
        """A flow version from the store's ``flow_versions``, read and checked once a process."""
        if version not in self._stored_flows:
            if conn is None:
                with self.store.engine.connect() as own:
                    found = load_flow_versions(own, [version])
            else:
                found = load_flow_versions(conn, [version])
            if version not in found:
                raise FlowError(
                    f"open cases are on flow version {version[:12]}, whose text is not in the "
                    "store's flow_versions: restore it, or move the cases with `escalation-flow "
                    "case migrate`"
                )
            self._stored_flows[version] = found[version]
        return self._stored_flows[version]

    def schools(self) -> list[str]:
        return sorted(self.trust.schools)

    def ensure_schools(self) -> None:
        """The trust's schools are in the store (added on first use)."""
        if not self._schools_known:
            self.store.upsert_schools(self.trust)
            self._schools_known = True

    # -- school days and timers ------------------------------------------------------------------

    def run_day(
        self, school: str, day: date, *, force: bool = False, auto_complete: bool = False
    ) -> DayReport:
        """Evaluate one school day of one school (idempotent: again is a no-op unless ``force``).
        ``auto_complete`` (demos, rehearsals): every task due by then is done by "auto" with its
        default outcome, as the backtest's ``--auto-complete-actions``."""
        return days.run_day(self, school, day, force=force, auto_complete=auto_complete)

    def run_trust_day(self, day: date, *, force: bool = False) -> list[DayReport]:
        """``run_day`` for every school of the trust, in order of id (registers read ahead)."""
        return days.run_trust_day(self, day, force=force)

    def fire_due_timers(
        self, now: datetime | None = None, *, stop: Callable[[], bool] | None = None
    ) -> list[FiredTimer]:
        """Claim and fire every pending timer with ``fire_at <= now`` (default: the clock);
        ``stop()`` is asked before each timer (a daemon stopping finishes the one in hand)."""
        return days.fire_due_timers(self, now or self.now(), stop)

    def pending_fire_times(
        self, after: datetime | None = None, limit: int = 1000
    ) -> list[datetime]:
        """Distinct instants pending timers fire at, earliest first (the scheduler mirrors them)."""
        return timetable.pending_fire_times(self, after, limit)

    def last_evaluated_days(self) -> dict[str, date]:
        """Each school's latest evaluated school day (absent: never evaluated)."""
        return timetable.last_evaluated_days(self)

    # -- staff -----------------------------------------------------------------------------------

    def complete_task(
        self,
        task_id: int,
        outcome: str | None,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> TaskView:
        """``ConflictError`` if someone else completed it; ``ActionError`` for a bad outcome; the
        same completion again is reported ``already_recorded``."""
        return staff.complete_task(self, task_id, outcome, by, note, at)

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
        """A manual event of the pupil's flow (``safeguarding_concern``, ...), or a task by name."""
        by = staff.staff_id(by)
        stimulus = Stimulus("action", event, outcome, by, note)
        return list(staff.act(self, school, pupil, stimulus, at or self.now()).decisions)

    def override(self, school: str, pupil: str, stage: int, reason: str, by: str) -> list[Decision]:
        """A professional judgement: put the case in ``stage`` (0 closes it), with the reason."""
        by = staff.staff_id(by)
        if not reason.strip():
            raise ActionError("an override needs a reason")
        flow = self.setup_at(school, self._open_case_version(school, pupil)).flow
        stages = sorted(s.number for s in flow.definition.stages if s.initial)
        if stage != 0 and stage not in stages:
            raise ActionError(
                f"stage {stage} is not a stage of flow {flow.id} a case can be in "
                f"(choose {', '.join(map(str, stages))}, or 0 to close the case)"
            )
        stimulus = Stimulus("override", by=by, note=reason.strip(), extra={"stage": stage})
        if stage == 0 and not self._open_case_version(school, pupil):
            raise ActionError(f"pupil {pupil} has no open case at school {school} to close")
        return list(staff.act(self, school, pupil, stimulus, self.now()).decisions)

    def apply_actions(self, path: Path) -> ActionsReport:
        """A contract actions CSV, applied through the same steps; retried rows count once."""
        return staff.apply_actions(self, path)

    def _open_case_version(self, school: str, pupil: str) -> str:
        """The flow version the pupil's open case runs under ("": no open case)."""
        try:
            view = self.case(school, pupil)
        except NotFoundError:  # never had a case
            return ""
        return view.flow_version if view.status == "open" else ""

    # -- letters ---------------------------------------------------------------------------------

    def letter(self, letter_id: int) -> LetterView:
        return letter_desk.letter(self, letter_id)

    def letter_pdf(self, letter_id: int) -> bytes:
        return letter_desk.pdf(self, letter_id)

    def approve_letter(self, letter_id: int, by: str) -> LetterView:
        return letter_desk.approve(self, letter_id, by)

    def render_letters(self, limit: int | None = None) -> int:
        """Render the PDFs of prepared letters that have none yet; how many."""
        return letter_desk.render_pending(self, limit)

    # -- what is due, what happened --------------------------------------------------------------

    def tasks(
        self,
        school: str | None = None,
        role: str | None = None,
        due_by: date | None = None,
        include_universal: bool = True,
    ) -> list[TaskView]:
        """Open tasks, overdue first (most overdue first), then by due date."""
        return queries.tasks(self, school, role, due_by, include_universal)

    def task(self, task_id: int) -> TaskView:
        return queries.task(self, task_id)

    def case_lines(self, school: str, status: str | None = None) -> list[CaseLine]:
        """A school's cases, one line each (``status``: only open or only closed ones)."""
        return queries.case_lines(self, school, status)

    def case(self, school: str, pupil: str) -> CaseView:
        """The case row, its whole history (with the chain checked), open tasks, pending timers."""
        return queries.case(self, school, pupil)

    def status(self) -> StatusReport:
        return queries.status(self)
