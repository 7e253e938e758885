"""The audit's inputs, read from a store and a trust file: a case's history, the flows it was
decided under, the school's calendar and parameters, and the pupil's marks with their imports.

Flow versions come from the store's ``flow_versions`` (each decision's own version); the
school's current flow file is used for its own version when that was never stored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_reads import (
    ImportInfo,
    StoredMarks,
    case_pupils,
    case_records,
    imports,
    stored_marks,
)
from escalation_flow.adapters.store.audit_store import load_flow_versions
from escalation_flow.adapters.store.cases import evaluated_days, school_id
from escalation_flow.adapters.store.contacts import read_versions
from escalation_flow.adapters.store.family_evenings import family_evenings
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.audit.knowledge import PupilMarkHistory
from escalation_flow.audit.quiet_days import Evenings
from escalation_flow.audit.step_replay import FamilyReading, ReplayInputs
from escalation_flow.audit.steps import HistoryRecord
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.definition import Flow
from escalation_flow.core.family_facts import (
    FamilySnapshot,
    facts_of,
    family_names_read,
    snapshot_at,
)
from escalation_flow.core.marks import Roster
from escalation_flow.core.penalty_notices import NoticeVersion
from escalation_flow.core.school_cases import FloatArray


@dataclass(frozen=True)
class CaseSource:
    """One case, loaded: what replay and export need."""

    school: str
    pupil: str
    row: dict[str, Any]
    records: list[HistoryRecord]
    flows: dict[str, Flow]
    current_flow: Flow
    calendar: SchoolCalendar
    register: PupilMarkHistory
    roster: Roster
    imports: dict[int, ImportInfo]
    import_ids: list[int]  # per row of ``register.marks``
    evenings: Evenings | None = None
    family: FamilyReading | None = None  # None: no flow of the case names a family fact

    def replay_inputs(self) -> ReplayInputs:
        return ReplayInputs(
            school=self.school,
            pupil=self.pupil,
            history=self.records,
            flows=self.flows,
            calendar=self.calendar,
            register=self.register,
            evenings=self.evenings,
            family=self.family,
        )


class FamilyReads:
    """The evenings and contacts the store keeps, read for a replay as the service read them
    (``core.family_facts.snapshot_at`` on the same rows and cut); a snapshot read once per
    school day and instant, which every pupil of the school's evening shares."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._contacts: list[ContactVersion] | None = None
        self._snapshots: dict[tuple[date, str, datetime], FamilySnapshot | None] = {}

    def reading(self, school: str, pupil: str, calendar: SchoolCalendar) -> FamilyReading:
        def read(day: int, cut: datetime) -> Mapping[str, FloatArray]:
            return facts_of(self._snapshot(calendar, day, cut), school, (pupil,))

        return read

    def _snapshot(self, calendar: SchoolCalendar, day: int, cut: datetime) -> FamilySnapshot | None:
        on = calendar.school_days[day]
        key = (on, calendar.timezone, cut)
        if key not in self._snapshots:
            with self.store.engine.connect() as conn:
                if self._contacts is None:
                    self._contacts = read_versions(conn)
                evenings = family_evenings(conn, on, cut)
            self._snapshots[key] = snapshot_at(self._contacts, evenings, on, key[1], cut)
        return self._snapshots[key]


class AuditSource:
    """Reads cases from ``store`` with the schools of ``trust`` (flows and marks cached)."""

    def __init__(self, store: Store, trust: Trust) -> None:
        self.store = store
        self.trust = trust
        self._flows: dict[str, Flow] = {}
        self._current: dict[str, Flow] = {}
        self._marks: dict[str, StoredMarks] = {}
        self._rosters: dict[str, Roster] = {}
        self._evenings: dict[str, Evenings] = {}
        # the penalty-notice register and the contacts, by (school, pupil): read once
        self._notices: dict[tuple[str, str], list[NoticeVersion]] | None = None
        self._contacts: dict[tuple[str, str], list[ContactVersion]] | None = None
        self._family = FamilyReads(store)

    def _family_records(
        self,
    ) -> tuple[
        dict[tuple[str, str], list[NoticeVersion]], dict[tuple[str, str], list[ContactVersion]]
    ]:
        """Every pupil's penalty notices and contacts (every version), read once."""
        if self._notices is None or self._contacts is None:
            self._notices, self._contacts = {}, {}
            for v in self.store.penalty_notice_versions():
                self._notices.setdefault((v.draft.school, v.draft.pupil), []).append(v)
            if self._notices:  # the contacts matter only to pupils with notices
                for c in self.store.contact_versions():
                    self._contacts.setdefault((c.school, c.pupil), []).append(c)
        return self._notices, self._contacts

    def school_flow(self, school: str) -> Flow:
        key = self.trust.resolve_school(school)
        if key not in self._current:
            from escalation_flow.adapters.school_flows import school_flow

            self._current[key] = school_flow(self.trust, key)
        return self._current[key]

    def pupils(self, school: str) -> list[str]:
        with self.store.engine.connect() as conn:
            return case_pupils(conn, school_id(conn, self.trust.resolve_school(school)))

    def flows(self, versions: Collection[str], school: str) -> dict[str, Flow]:
        """The flows of ``versions`` that can be had (stored, or the school's current file)."""
        current = self.school_flow(school)
        self._flows.setdefault(current.version, current)  # no need to read its stored text
        missing = [v for v in versions if v not in self._flows]
        if missing:
            with self.store.engine.connect() as conn:
                self._flows.update(load_flow_versions(conn, missing))
        return {v: self._flows[v] for v in versions if v in self._flows} | {
            current.version: current
        }

    def case(self, school: str, pupil: str, *, whole_school: bool = False) -> CaseSource:
        """``whole_school``: read the school's marks once and keep them (``replay --all``)."""
        school = self.trust.resolve_school(school)
        calendar = self.trust.calendar(school)
        with self.store.engine.connect() as conn:
            sid = school_id(conn, school)
            row, stored = case_records(conn, sid, school, pupil)
            records = [
                HistoryRecord(
                    r.seq, r.on, r.at, r.type, r.event, r.flow_version, r.actor, r.recorded_at
                )
                for r in stored
            ]
            if school not in self._evenings:
                self._evenings[school] = Evenings(evaluated_days(conn, sid))
            if whole_school:
                if school not in self._marks:
                    self._marks[school] = stored_marks(conn, sid, school, calendar)
                marks = self._marks[school]
            else:
                marks = stored_marks(conn, sid, school, calendar, [pupil])
        roster = self._roster(school)
        register = PupilMarkHistory(
            marks.table,
            pupil,
            calendar,
            roster=roster,
            imported_at=marks.imported_at,
            import_id=marks.import_id,
            notices=self._family_records()[0].get((school, pupil), []),
            contacts=self._family_records()[1].get((school, pupil), []),
        )
        rows = _rows_of(marks, pupil)
        import_ids = [int(marks.import_id[r]) for r in rows]
        with self.store.engine.connect() as conn:
            found = dict(imports(conn, set(import_ids)))
        versions = {r.flow_version for r in records} | {_opened_version(r) for r in records}
        versions.discard("")
        flows = self.flows(versions, school)
        # only a flow naming a family fact reads one: the others' replay reads no evenings
        named = any(family_names_read(f) for f in flows.values())
        return CaseSource(
            school=school,
            pupil=pupil,
            row=row,
            records=records,
            flows=flows,
            current_flow=self.school_flow(school),
            calendar=calendar,
            register=register,
            roster=roster,
            imports=found,
            import_ids=import_ids,
            evenings=self._evenings[school],
            family=self._family.reading(school, pupil, calendar) if named else None,
        )

    def _roster(self, school: str) -> Roster:
        if school not in self._rosters:
            self._rosters[school] = self.store.load_roster(school)
        return self._rosters[school]


def _rows_of(marks: StoredMarks, pupil: str) -> list[int]:
    if pupil not in marks.table.pupils:
        return []
    index = marks.table.pupils.index(pupil)
    return [int(r) for r in (marks.table.pupil == index).nonzero()[0]]


def _opened_version(record: HistoryRecord) -> str:
    return str(record.body.get("flow_version", "")) if record.type == "case_opened" else ""
