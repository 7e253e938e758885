"""``MemoryStore``: the store the service asks for (``ports.ServiceStore``), held in memory.

A unit of work begins from a copy of the tables (rows are frozen, so only the dictionaries are
copied) and the copy replaces the tables when the block ends without an error: a failed unit
of work leaves nothing behind. Units of work in one process are checked optimistically: one that
wrote something while another committed first is refused whole with ``ConflictError`` (the SQL
store refuses only when the two touched the same case, task or timer; here any overlap counts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from threading import Lock

from escalation_flow.adapters.contact_files import ContactsRead, new_versions
from escalation_flow.adapters.memory import registers
from escalation_flow.adapters.memory.flow_texts import FlowTexts
from escalation_flow.adapters.memory.registers import MemoryRegisterReader
from escalation_flow.adapters.memory.tables import AuditRec, SchoolRec, Tables
from escalation_flow.adapters.memory.transaction import MemoryTransaction
from escalation_flow.adapters.register_files import MarksRead
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.marks import Roster
from escalation_flow.errors import ConflictError


class MemoryStore:
    """Cases, their history, tasks, timers, letters, school days, the staff audit log, flow
    versions and registers, in this process's memory; gone when it is."""

    def __init__(self, tables: Tables | None = None, flows: FlowTexts | None = None) -> None:
        self._tables = tables or Tables()
        self._generation = 0
        self._lock = Lock()
        self._flows = flows or FlowTexts()

    def clone(self) -> MemoryStore:
        """Another store holding what this one holds now (a test's starting state, built once)."""
        return MemoryStore(self._tables.copy(), self._flows)

    # -- units of work on cases (``ports.CaseStore``) -----------------------------------------

    @contextmanager
    def begin(self) -> Iterator[MemoryTransaction]:
        """A unit of work: kept on leaving the block, dropped on an error."""
        with self._unit() as tables:
            yield MemoryTransaction(tables, self._flows)

    @contextmanager
    def read(self) -> Iterator[MemoryTransaction]:
        """Reads only: the block works on a copy that is never kept."""
        yield MemoryTransaction(self._committed().copy(), self._flows)

    def upsert_schools(self, trust: Trust) -> None:
        """Add the trust's schools, and bring names and URNs up to date."""
        with self._unit() as tables:
            for school in trust.schools.values():
                held = tables.schools.get(school.id)
                sid = held.id if held else tables.next_id("schools")
                tables.schools[school.id] = SchoolRec(sid, school.id, school.name, school.urn)
            tables.written = True

    # -- registers (``ports.Registers``) ------------------------------------------------------

    def register_reader(self) -> MemoryRegisterReader:
        return MemoryRegisterReader(self._committed)

    def load_roster(self, school: str) -> Roster:
        return registers.load_roster(self._committed(), school)

    def import_marks(
        self,
        result: MarksRead,
        *,
        file: Path,
        now: datetime,
        by: str,
        clock: Clock | None = None,
        seal: bool = False,
    ) -> int:
        """The SQL store's ``import_marks``, all or nothing: the rows new to the store (marks
        are not sealed here, whatever ``seal`` says)."""
        with self._unit() as tables:
            finished = clock.now() if clock else now
            return registers.import_marks(tables, result, now, finished)

    def import_roster(
        self,
        rosters: Mapping[str, Roster],
        *,
        file: Path,
        now: datetime,
        by: str,
        clock: Clock | None = None,
    ) -> int:
        """Add or update the pupils of a roster file; the pupils new to the store."""
        with self._unit() as tables:
            return registers.import_roster(tables, rosters, clock.now() if clock else now)

    # -- contacts (``ports.ContactBook``) -----------------------------------------------------

    def import_contacts(
        self, result: ContactsRead, *, now: datetime, by: str, clock: Clock | None = None
    ) -> int:
        """The SQL store's ``import_contacts``, all or nothing: the versions new to the store
        (the same rule, ``contact_files.new_versions``)."""
        with self._unit() as tables:
            added = new_versions(tables.contacts, result)
            if added:
                tables.contacts = (*tables.contacts, *added)
                tables.written = True
            return len(added)

    def contact_versions(self) -> list[ContactVersion]:
        """Every version of every contact, in the order imported."""
        return list(self._committed().contacts)

    # -- what tests look at -------------------------------------------------------------------

    def audit_entries(self) -> tuple[AuditRec, ...]:
        """The staff audit log, oldest first."""
        return self._committed().audit

    # -- the tables ---------------------------------------------------------------------------

    def _committed(self) -> Tables:
        with self._lock:
            return self._tables

    @contextmanager
    def _unit(self) -> Iterator[Tables]:
        """A copy of the tables to change; it replaces them if the block ends normally (an
        exception leaves the copy behind, unkept)."""
        with self._lock:
            base, generation = self._tables, self._generation
        work = base.copy()
        yield work
        if not work.written:
            return
        with self._lock:
            if self._generation != generation:
                raise ConflictError(
                    "another unit of work was kept while this one ran; nothing was written, "
                    "try again"
                )
            work.written = False
            self._tables = work
            self._generation += 1
