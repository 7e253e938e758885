"""Retention runs (``adapters/store/erasure.py``) checked as ``audit verify`` reads them.

A run is the only thing that may take rows away: what it names as erased is expected gone, and
everything else is checked as before. So a run must itself be one the policy allowed: a
register term the law allows, cutoffs that follow from its day and policy, a day not after it
was recorded, and only cases closed before its case cutoff. Its record is chained (an edit to
it breaks the ``retention`` chain) and anchored by the next checkpoint. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from escalation_flow.adapters.store.erasure import RETENTION_RUN
from escalation_flow.adapters.store.records import StoredRecord
from escalation_flow.audit.verify import Breach
from escalation_flow.core.retention import LEGAL_MINIMUM_REGISTER_YEARS, years_before

FORGED = "retention_run_invalid"


def check_runs(rows: Sequence[StoredRecord]) -> list[Breach]:
    """Every run on the retention chain that the policy could not have made."""
    out: list[Breach] = []
    for r in rows:
        if r.kind != RETENTION_RUN:
            continue
        where = "records of retention"
        try:
            problems = _problems(json.loads(r.body), r.recorded_at.date())
        except (ValueError, KeyError, TypeError) as exc:
            problems = [f"its record does not read: {exc!r}"]
        out += [Breach(where, r.seq, FORGED, f"run {r.seq}: {p}") for p in problems]
    return out


def allowed_cutoffs(body: Mapping[str, Any]) -> tuple[date, date]:
    """The register and case cutoffs a run may have erased before: what it claims, but never
    later than what follows from its own day and policy (with the law's six-year floor), so a
    run claiming a later cutoff than its policy gives is held to the policy's."""
    policy = body["policy"]
    today = date.fromisoformat(str(body["today"]))
    registers = max(int(policy["registers_years"]), LEGAL_MINIMUM_REGISTER_YEARS)
    register = min(
        date.fromisoformat(str(body["register_cutoff"])), years_before(today, registers)
    )
    case = min(
        date.fromisoformat(str(body["case_cutoff"])),
        years_before(today, max(int(policy["closed_cases_years"]), 1)),
    )
    return register, case


def _problems(body: dict[str, object], recorded_on: date) -> list[str]:
    policy = body["policy"]
    assert isinstance(policy, dict)
    registers, cases = int(policy["registers_years"]), int(policy["closed_cases_years"])
    today = date.fromisoformat(str(body["today"]))
    out = []
    if registers < LEGAL_MINIMUM_REGISTER_YEARS:
        out.append(f"kept registers {registers} years, fewer than the law's six")
    if today > recorded_on + timedelta(days=1):
        out.append(f"ran as of {today}, after the day it was recorded ({recorded_on})")
    case_cutoff = date.fromisoformat(str(body["case_cutoff"]))
    if date.fromisoformat(str(body["register_cutoff"])) != years_before(today, registers):
        out.append("its register cutoff does not follow from its day and policy")
    if case_cutoff != years_before(today, cases):
        out.append("its case cutoff does not follow from its day and policy")
    out += _counts_problems(body)
    erased = body.get("cases", [])
    assert isinstance(erased, list)
    for c in erased:
        closed = c.get("closed_on")
        if closed is None or date.fromisoformat(closed) >= case_cutoff:
            out.append(f"erased case {c['case']}, closed on {closed}: not yet due")
    return out


def _counts_problems(body: Mapping[str, Any]) -> list[str]:
    """A run's counts are what its lists name (the run writes both from the same erasure): a
    count that does not add up is an edit or a hand-made run."""
    counts = body["counts"]
    named = {
        "marks": sum(int(s["erased"]) for s in body.get("seals", [])),
        "cases": len(body.get("cases", [])),
        "letters": len(body.get("letters", [])),
        "tasks": len(body.get("tasks", [])),
    }
    return [
        f"its count of {what} ({counts.get(what)}) is not the {n} it names"
        for what, n in named.items()
        if counts.get(what) != n
    ]
