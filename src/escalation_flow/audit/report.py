"""Replays and checks written for a person (text) or a program (JSON)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from escalation_flow.audit.casework import SchoolReplay, summary_line
from escalation_flow.audit.knowledge import Cut, PupilMarkHistory
from escalation_flow.audit.replay import CaseReplay
from escalation_flow.audit.step_replay import Finding, StepReplay
from escalation_flow.audit.steps import describe_event
from escalation_flow.audit.verify import VerifyReport
from escalation_flow.core.calendar import SchoolCalendar


def replay_text(result: CaseReplay, zone: ZoneInfo) -> str:
    records = sum(len(s.seqs) for s in result.steps)
    lines = [
        f"{result.school}/{result.pupil}: {records} history records in {len(result.steps)} "
        "decisions" + (f", as they stood at {result.as_of.isoformat()}" if result.as_of else "")
    ]
    for s in result.steps:
        lines += _step_lines(s, zone)
    for q in result.quiet:
        lines.append(f"  MISSING: {q.text()}")
    lines.append(f"verdict: {summary_line(result)}")
    return "\n".join(lines) + "\n"


def _step_lines(s: StepReplay, zone: ZoneInfo) -> list[str]:
    seqs = f"#{s.seqs[0]}" if len(s.seqs) == 1 else f"#{s.seqs[0]}-{s.seqs[-1]}"
    when = s.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    out = [
        f"{seqs:>9}  {when}  {s.what} [flow {s.flow_version[:12]}, by {s.actor}]",
        f"{'':11}recorded: {'; '.join(s.recorded)}",
        f"{'':11}as known then: {_finding(s.then)}",
        f"{'':11}as known now:  {_finding(s.now)}",
    ]
    return out


def _finding(f: Finding) -> str:
    if f.same:
        return f"same ({f.cut})" if f.cut else f"same{': ' + f.detail if f.detail else ''}"
    text = f"DIFFERS: {f.reason}: {f.detail}"
    if f.replayed and f.reason not in ("mark_amended_later",):
        text += f" [replay gives: {'; '.join(f.replayed) or 'nothing'}]"
    return text


def replay_json(result: CaseReplay) -> dict[str, Any]:
    return {
        "school": result.school,
        "pupil": result.pupil,
        "as_of": result.as_of,
        "agrees": result.agrees,
        "summary": summary_line(result),
        "case": {
            "flow": result.case.flow,
            "flow_version": result.case.flow_version,
            "state": result.case.state,
            "stage": result.case.stage,
            "open": result.case.is_open,
            "records": result.case.length,
        },
        "decisions": [
            {
                "seqs": list(s.seqs),
                "on": s.on,
                "at": s.at,
                "kind": s.kind,
                "what": s.what,
                "flow_version": s.flow_version,
                "actor": s.actor,
                "recorded": list(s.recorded),
                "verdict": s.verdict,
                "then": _finding_json(s.then),
                "now": _finding_json(s.now),
            }
            for s in result.steps
        ],
        "missing": [
            {
                "on": q.on,
                "reason": q.reason,
                "would": [describe_event(d.to_event()) for d in q.would],
                "cut": q.cut,
            }
            for q in result.quiet
        ],
    }


def _finding_json(f: Finding) -> dict[str, Any]:
    out = asdict(f)
    out["marks"] = [asdict(m) for m in f.marks]
    return out


def as_of_text(
    result: CaseReplay, register: PupilMarkHistory, calendar: SchoolCalendar, minimum: int
) -> str:
    """The case exactly as it stood at ``result.as_of``, with the register as known then."""
    assert result.as_of is not None
    case = result.case
    zone = ZoneInfo(calendar.timezone)
    lines = [f"the case at {result.as_of.astimezone(zone).isoformat()}:"]
    if not case.is_open:
        lines.append(
            f"  {'closed on ' + case.closed_on.isoformat() if case.closed_on else 'no case'}"
        )
    else:
        lines.append(
            f"  open since {case.opened_on}, stage {case.stage}, state {case.state}, "
            f"flow version {case.flow_version[:12]}"
        )
        for t in case.tasks:
            lines.append(f"  open task {t.task} ({t.role}), due {t.due.isoformat()}")
        for timer in case.timers:
            lines.append(f"  review {timer.timer} due {timer.due.isoformat()}")
    day = calendar.index_on_or_before(result.as_of.astimezone(zone).date())
    if day >= 0:
        facts = register.facts(Cut(result.as_of), day, minimum).values
        lines.append(
            f"  register as known then, end of {calendar.school_days[day].isoformat()}: "
            f"attendance {_pct(facts['attendance_pct'][0])}, "
            f"{int(facts['possible_sessions'][0])} possible sessions, "
            f"{int(facts['unauthorised_absence_sessions'][0])} unauthorised"
        )
    return "\n".join(lines) + "\n"


def school_text(result: SchoolReplay) -> str:
    then = ", ".join(f"{k} {v}" for k, v in sorted(result.then.items()))
    now = ", ".join(f"{k} {v}" for k, v in sorted(result.now.items()))
    lines = [
        f"{result.school}: {result.cases} cases, {result.steps} decisions replayed",
        f"  as known then: {then or 'nothing to replay'}",
        f"  as known now:  {now or 'nothing to replay'}",
    ]
    for pupil, seqs, reason, detail in result.differing:
        lines.append(f"  {pupil} #{seqs[0]}-{seqs[-1]}: {reason}: {detail}")
    lines.append(
        f"  quiet evenings: {result.missing_count} where the flow decides something and "
        "nothing was recorded"
    )
    for pupil, text in result.missing:
        lines.append(f"  {pupil} {text}")
    if result.amended_later:
        listed = ", ".join(f"{p} ({n})" for p, n in result.amended_later)
        lines.append(f"  decisions today's register would not give (marks amended later): {listed}")
    for pupil in result.broken:
        lines.append(
            f"  {pupil}: THE HISTORY'S HASH CHAIN IS BROKEN: a record was changed after it was "
            "written (audit verify names it); this replay shows the records as they stand"
        )
    verdict = "every decision follows" if result.agrees else "SOME DECISIONS DO NOT FOLLOW"
    lines.append(f"verdict: {verdict} from the register as known when it was taken")
    return "\n".join(lines) + "\n"


def school_json(result: SchoolReplay) -> dict[str, Any]:
    return {
        "school": result.school,
        "cases": result.cases,
        "decisions": result.steps,
        "agrees": result.agrees,
        "then": dict(result.then),
        "now": dict(result.now),
        "differing": [
            {"pupil": p, "seqs": list(s), "reason": r, "detail": d}
            for p, s, r, d in result.differing
        ],
        "missing": [{"pupil": p, "what": text} for p, text in result.missing],
        "amended_later": [{"pupil": p, "decisions": n} for p, n in result.amended_later],
        "chain_broken": list(result.broken),
    }


def verify_text(report: VerifyReport) -> str:
    lines = [str(b) for b in report.breaches]
    lines += [f"warning: {w}" for w in report.warnings]
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "cases": report.cases,
        "records": report.records,
        "marks": report.marks,
        "seals": report.seals,
        "flow_versions": report.flow_versions,
        "later_records": report.later_records,
        "problems": [asdict(b) for b in report.breaches],
        "warnings": report.warnings,
    }


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _pct(value: float) -> str:
    return "unknown" if value != value else f"{value:.1f}%"
