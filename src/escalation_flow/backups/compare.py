"""Two checkpoints compared: what one holds that the other does not.

Restore uses it to say what restoring would lose (the live database's checkpoint against the
backup's); ``audit verify`` after a restore uses it to name which of an auditor's checkpoint's
entries the restored backup never held. Pure: documents in, words out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from escalation_flow.audit.checkpoint import OPEN


@dataclass(frozen=True)
class Counts:
    """How much a checkpoint saw."""

    cases: int
    history_records: int
    marks: int
    letters: int
    tasks: int
    later_records: int

    def text(self) -> str:
        return (
            f"{self.cases} cases, {self.history_records} history records, {self.marks} marks, "
            f"{self.letters} letters, {self.tasks} tasks, {self.later_records} later records"
        )


def counts(checkpoint: Mapping[str, Any]) -> Counts:
    return Counts(
        cases=len(checkpoint["cases"]),
        history_records=sum(c["length"] for c in checkpoint["cases"]),
        marks=sum(s["marks"] for s in checkpoint["schools"].values()),
        letters=len(checkpoint["letters"]),
        tasks=len(checkpoint["tasks"]),
        later_records=sum(n for n, _ in checkpoint.get("records", {}).values()),
    )


def case_lengths(checkpoint: Mapping[str, Any]) -> dict[str, int]:
    return {f"{c['school']}/{c['pupil']}": c["length"] for c in checkpoint["cases"]}


def beyond(newer: Mapping[str, Any], older: Mapping[str, Any]) -> list[str]:
    """What ``newer`` saw that ``older`` did not, one line a kind (empty: nothing). A case, a
    chain, a school's marks or seals longer; a letter or a task completion ``older`` has not
    (or had otherwise)."""
    out = []
    was = case_lengths(older)
    longer = {k: n - was.get(k, 0) for k, n in case_lengths(newer).items() if n > was.get(k, 0)}
    if longer:
        out.append(f"{sum(longer.values())} history records of {len(longer)} cases")
    marks = sum(
        max(0, s["marks"] - older["schools"].get(k, {}).get("marks", 0))
        for k, s in newer["schools"].items()
    )
    if marks:
        out.append(f"{marks} marks")
    for name, on in (("letters", _letter_on), ("tasks", _task_on)):
        changed = [k for k, v in newer[name].items() if on(v, older[name].get(k))]
        if changed:
            out.append(f"{len(changed)} {name} (new, or changed since)")
    chains = older.get("records", {})
    later = sum(
        n - chains.get(k, [0])[0]
        for k, (n, _) in newer.get("records", {}).items()
        if n > chains.get(k, [0])[0]
    )
    if later:
        out.append(f"{later} later records (letters' approvals, completions, the audit log)")
    return out


def _letter_on(new: list[Any], old: list[Any] | None) -> bool:
    """Whether a letter ``[case, html, pdf, approval]`` holds what ``old`` did not: it is new,
    its words differ, or its PDF or approval came since (both are written once)."""
    if old is None:
        return True
    if new[:2] != old[:2]:
        return True
    return any(o is None and n is not None for n, o in zip(new[2:], old[2:], strict=False))


def _task_on(new: list[Any], old: list[Any] | None) -> bool:
    """Whether a task ``[case, status, completion]`` holds what ``old`` did not: it is new,
    or it was completed since (or otherwise than ``old`` has it)."""
    if old is None:
        return True
    return new != old and new[1] != OPEN
