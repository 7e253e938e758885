"""The audit's use cases over a store: replay a case (or every case of a school), build a case
file, and move an open case onto another flow version with a recorded ``flow_migrated``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from escalation_flow.adapters.store.audit_store import (
    flow_from_text,
    flow_texts,
    store_flow_version,
)
from escalation_flow.adapters.store.cases import history
from escalation_flow.audit.chronology import CaseFile, build_case_file
from escalation_flow.audit.inputs import AuditSource, CaseSource
from escalation_flow.audit.replay import CaseReplay, replay_case
from escalation_flow.audit.verify import check_chain
from escalation_flow.core.case import apply
from escalation_flow.core.decisions import FlowMigrated
from escalation_flow.core.definition import Flow
from escalation_flow.errors import ActionError


def replay(
    source: AuditSource, school: str, pupil: str, as_of: datetime | None = None
) -> CaseReplay:
    return replay_case(source.case(school, pupil).replay_inputs(), as_of=as_of)


@dataclass
class SchoolReplay:
    """Every case of a school replayed: the counts a periodic audit reports."""

    school: str
    cases: int = 0
    steps: int = 0
    then: Counter[str] = field(default_factory=Counter)  # "same" or the reason it differs
    now: Counter[str] = field(default_factory=Counter)
    differing: list[tuple[str, tuple[int, ...], str, str]] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(key in ("same", "override") for key in self.then)


def replay_school(
    source: AuditSource, school: str, progress: Callable[[CaseReplay], None] | None = None
) -> SchoolReplay:
    out = SchoolReplay(school)
    for pupil in source.pupils(school):
        result = replay_case(source.case(school, pupil, whole_school=True).replay_inputs())
        out.cases += 1
        for s in result.steps:
            out.steps += 1
            out.then[s.then.reason or "same"] += 1
            out.now[s.now.reason or "same"] += 1
            if not s.then.same:
                out.differing.append((pupil, s.seqs, s.then.reason or "", s.then.detail))
        if progress is not None:
            progress(result)
    return out


def summary_line(result: CaseReplay) -> str:
    """One sentence for the case file: does every step follow from what was known then?"""
    steps = result.steps
    overrides = sum(1 for s in steps if s.then.reason == "override")
    differ = [s for s in steps if not s.then.same and s.then.reason != "override"]
    later = sum(1 for s in steps if s.now.reason == "mark_amended_later")
    text = (
        f"{len(steps) - len(differ) - overrides} of {len(steps)} decisions follow from the "
        "register as known when they were taken"
    )
    if overrides:
        text += f"; {overrides} were overrides by staff (professional judgement)"
    if differ:
        reasons = Counter(s.then.reason for s in differ)
        text += "; " + ", ".join(f"{n} differ ({r})" for r, n in sorted(reasons.items()))
    if later:
        text += f"; {later} would not be taken on today's register (marks amended later)"
    return text + "."


def case_file(source: AuditSource, school: str, pupil: str, now: datetime) -> CaseFile:
    case = source.case(school, pupil)
    result = replay_case(case.replay_inputs())
    record = case.roster.pupils.get(case.pupil)
    name = " ".join(p for p in (record.forename, record.surname) if p) if record else ""
    return build_case_file(
        records=case.records,
        case=result.case,
        register=case.register,
        calendar=case.calendar,
        flow=case.flows.get(result.case.flow_version) or case.current_flow,
        school=case.school,
        pupil_name=name,
        year_group=record.year_group if record else "",
        date_of_birth=record.date_of_birth if record else None,
        importers={i: info.imported_by for i, info in case.imports.items()},
        generated_at=now,
        chain_intact=_chain_intact(source, case),
        replay_summary=summary_line(result),
    )


def _chain_intact(source: AuditSource, case: CaseSource) -> bool:
    with source.store.engine.connect() as conn:
        rows = history(conn, int(case.row["id"]))
    problems = check_chain(
        f"{case.school}/{case.pupil}",
        rows,
        length=int(case.row["length"]),
        head_hash=str(case.row["head_hash"]),
    )
    return not problems


def migrate_case(
    source: AuditSource,
    school: str,
    pupil: str,
    *,
    to_version: str,
    by: str,
    reason: str,
    now: datetime,
    worker: str = "cli",
) -> FlowMigrated:
    """Move an open case onto another stored version of its flow, recorded as ``flow_migrated``.

    ``to_version`` may be a unique prefix (12 characters are shown everywhere). The case's
    current state must exist in the new version; its open tasks and timers carry on.
    """
    from escalation_flow.adapters.store.case_writer import CaseChange, HistoryWriter
    from escalation_flow.adapters.store.cases import load_case, school_id
    from escalation_flow.service.staff import staff_id

    by = staff_id(by)
    if not reason.strip():
        raise ActionError("a flow migration needs a reason")
    key = source.trust.resolve_school(school)
    current = source.school_flow(key)
    calendar = source.trust.calendar(key)
    with source.store.engine.begin() as conn:
        store_flow_version(conn, current, now)
        target = _version(conn, to_version)
        sid = school_id(conn, key)
        stored = load_case(conn, sid, key, pupil)
        case = stored.case
        if stored.id is None or not case.is_open:
            raise ActionError(f"pupil {pupil} has no open case at school {key} to migrate")
        if case.flow_version == target.version:
            raise ActionError(f"the case is on flow version {target.version[:12]} already")
        if case.flow and target.id != case.flow:
            raise ActionError(
                f"version {target.version[:12]} is of flow {target.id}, not {case.flow}"
            )
        if case.state not in target.states:
            raise ActionError(
                f"the case is in {case.state}, which flow version {target.version[:12]} does not "
                f"have: migrate it after it moves to a state both versions share"
            )
        day = calendar.next_school_day_on_or_after(
            now.astimezone(ZoneInfo(calendar.timezone)).date()
        )
        decision = FlowMigrated(
            on=day, at=now, from_version=case.flow_version, to_version=target.version, by=by,
            reason_text=reason.strip(),
        )  # fmt: skip
        writer = HistoryWriter(
            conn, school_id=sid, school=key, flow=target.id, flow_version=target.version,
            now=now, worker=worker,
        )  # fmt: skip
        writer.write([CaseChange(stored, [decision], apply(case, decision), by)])
    return decision


def _version(conn: Connection, prefix: str) -> Flow:
    texts = flow_texts(conn)
    found = [v for v in texts if v.startswith(prefix.strip().lower())]
    if len(prefix.strip()) < 8 or len(found) != 1:
        known = ", ".join(v[:12] for v in sorted(texts)) or "none"
        raise ActionError(
            f"{prefix!r} names no single stored flow version (give at least 8 characters; "
            f"stored: {known})"
        )
    return flow_from_text(texts[found[0]], found[0])
