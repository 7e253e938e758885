"""What every use case shares: the store, the trust, the clock, who is writing, and the schools'
set-ups (flow, calendar) read once a process.

The use-case classes (``SchoolDays``, ``StaffActions``, ``LetterDesk``, ``Queries``) each hold
one ``ServiceContext``; none of them holds another's service, so ``service/`` has no import
circle and each family can be built and tested alone.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from structlog.typing import FilteringBoundLogger

from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock
from escalation_flow.core.definition import Flow
from escalation_flow.errors import FlowError
from escalation_flow.logs import get_logger
from escalation_flow.ports import CaseTransaction, ServiceStore
from escalation_flow.service.register import SchoolSetup


class ServiceContext:
    """One store and one trust on one clock; ``worker`` names this process in what it writes
    (``school_days.worker``, ``timers.claimed_by``)."""

    def __init__(
        self, store: ServiceStore, trust: Trust, clock: Clock, *, worker: str = "cli"
    ) -> None:
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

    def now(self) -> datetime:
        instant = self.clock.now()
        if instant.tzinfo is None:
            raise ValueError("the service's clock must give timezone-aware instants")
        return instant.astimezone(UTC)

    def schools(self) -> list[str]:
        return sorted(self.trust.schools)

    def ensure_schools(self) -> None:
        """The trust's schools are in the store (added on first use)."""
        if not self._schools_known:
            self.store.upsert_schools(self.trust)
            self._schools_known = True

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

    def setup_at(
        self, school: str, version: str, tx: CaseTransaction | None = None
    ) -> SchoolSetup:
        """The school's set-up with the flow version a case runs under: the school's flow file
        when ``version`` is its version (or empty), else that earlier version's stored text
        (open cases stay on the version they were opened under until a recorded migration)."""
        setup = self.setup(school)
        if not version or version == setup.flow.version:
            return setup
        key = (setup.school, version)
        if key not in self._version_setups:
            flow = self.stored_flow(version, tx)
            self._version_setups[key] = dataclasses.replace(setup, flow=flow)
        return self._version_setups[key]

    def stored_flow(self, version: str, tx: CaseTransaction | None = None) -> Flow:
        """A flow version from the store's ``flow_versions``, read and checked once a process."""
        if version not in self._stored_flows:
            if tx is None:
                with self.store.read() as own:
                    found = own.load_flow_versions([version])
            else:
                found = tx.load_flow_versions([version])
            if version not in found:
                raise FlowError(
                    f"open cases are on flow version {version[:12]}, whose text is not in the "
                    "store's flow_versions: restore it, or move the cases with `escalation-flow "
                    "case migrate`"
                )
            self._stored_flows[version] = found[version]
        return self._stored_flows[version]

    def keep_flow_version(self, tx: CaseTransaction, flow: Flow, now: datetime) -> None:
        """Make sure the flow text a replay re-runs these records on is stored. Asked once per
        version and process: a version found already stored (so committed) is not asked again,
        which spares a query for every timer of a burst."""
        if flow.version in self._kept_flow_versions:
            return
        if not tx.store_flow_version(flow, now):
            self._kept_flow_versions.add(flow.version)
