"""The audit's use cases over a store: replay a case (or every case of a school) and build a case
file (moving cases between flow versions is ``audit.migration``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from escalation_flow.adapters.store.cases import history
from escalation_flow.audit.chronology import CaseFile, build_case_file
from escalation_flow.audit.inputs import AuditSource, CaseSource
from escalation_flow.audit.replay import CaseReplay, replay_case
from escalation_flow.audit.verify import check_chain


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
    missing: list[tuple[str, str]] = field(default_factory=list)  # (pupil, quiet evening)
    broken: list[str] = field(default_factory=list)  # pupils whose hash chain is broken
    #: pupils with decisions today's register would not give (marks amended later), how many
    amended_later: list[tuple[str, int]] = field(default_factory=list)

    @property
    def missing_count(self) -> int:
        return len(self.missing)

    @property
    def agrees(self) -> bool:
        steps_follow = all(key in ("same", "override") for key in self.then)
        return steps_follow and not self.missing and not self.broken


def replay_school(
    source: AuditSource, school: str, progress: Callable[[CaseReplay], None] | None = None
) -> SchoolReplay:
    out = SchoolReplay(school)
    for pupil in source.pupils(school):
        case = source.case(school, pupil, whole_school=True)
        result = replay_case(case.replay_inputs())
        out.cases += 1
        if not chain_intact(source, case):
            out.broken.append(pupil)
        later = sum(1 for s in result.steps if s.now.reason == "mark_amended_later")
        if later:
            out.amended_later.append((pupil, later))
        for s in result.steps:
            out.steps += 1
            out.then[s.then.reason or "same"] += 1
            out.now[s.now.reason or "same"] += 1
            if not s.then.same:
                out.differing.append((pupil, s.seqs, s.then.reason or "", s.then.detail))
        out.missing += [(pupil, q.text()) for q in result.quiet]
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
    if result.quiet:
        text += (
            f"; on {len(result.quiet)} evening{'s' if len(result.quiet) != 1 else ''} the flow "
            "decides something that was not recorded"
        )
    return text + "."


def case_file(source: AuditSource, school: str, pupil: str, now: datetime) -> CaseFile:
    case = source.case(school, pupil)
    result = replay_case(case.replay_inputs())
    record = case.roster.pupils.get(case.pupil)
    name = " ".join(p for p in (record.forename, record.surname) if p) if record else ""
    importers = {i: info.imported_by for i, info in case.imports.items()}
    built = build_case_file(
        records=case.records,
        case=result.case,
        register=case.register,
        calendar=case.calendar,
        flow=case.flows.get(result.case.flow_version) or case.current_flow,
        school=case.school,
        pupil_name=name,
        year_group=record.year_group if record else "",
        date_of_birth=record.date_of_birth if record else None,
        importers=importers,
        generated_at=now,
        chain_intact=chain_intact(source, case),
        replay_summary=summary_line(result),
    )
    logins = {e.who for e in built.entries} | set(importers.values())
    config = source.trust.schools.get(case.school)
    return replace(
        built,
        school_name=config.name if config else "",
        staff_names=tuple(sorted(staff_names(source, logins).items())),
    )


def staff_names(source: AuditSource, logins: set[str]) -> dict[str, str]:
    """Each login of the staff table among ``logins``, with the member of staff's name."""
    from escalation_flow.adapters.store.staff_store import StaffStore

    staff = StaffStore(source.store.engine)
    found = {login: staff.by_username(login) for login in sorted(logins)}
    return {login: r.name for login, r in found.items() if r is not None and r.name}


def chain_intact(source: AuditSource, case: CaseSource) -> bool:
    """Whether the case's stored history still hashes as written (``audit verify``'s check):
    where not, a replay shows the records as they stand, not as they were written."""
    with source.store.engine.connect() as conn:
        rows = history(conn, int(case.row["id"]))
    problems = check_chain(
        f"{case.school}/{case.pupil}",
        rows,
        length=int(case.row["length"]),
        head_hash=str(case.row["head_hash"]),
    )
    return not problems
