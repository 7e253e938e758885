"""Rows that speak of the same version of the same session: repeats (harmless) and
contradictions (ambiguous, refused).

A version is (school, pupil, session, recorded_at). Two rows of one version with the same code,
minutes late and MIS user (``recorded_by``) say the same thing twice; with different ones, nobody
can tell which is true.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from escalation_flow.adapters.register_checks import BoolArray, Check, IntArray, ParsedMarks
from escalation_flow.core.codes import CODE_OF_ID


def find_conflicts(
    parsed: ParsedMarks, good: BoolArray, line_of: Callable[[int], int]
) -> tuple[tuple[Check, Check], BoolArray]:
    """Rows that say different things about the same version of a session (ambiguous: a check
    of ``code`` and one of ``recorded_by``), and rows that repeat an earlier row exactly
    (harmless, dropped)."""
    n = len(parsed.school)
    conflict = np.zeros(n, dtype=bool)
    duplicate = np.zeros(n, dtype=bool)
    partner: dict[int, int] = {}
    candidates = _sharing_a_session(parsed, good)
    if len(candidates):
        key = _session_key(parsed, candidates)
        order = np.lexsort((candidates, parsed.recorded_at[candidates], key))
        _mark_versions(parsed, candidates[order], key[order], conflict, duplicate, partner)
    code, minutes = parsed.code, parsed.minutes_late

    def explain(row: int) -> str:
        other = partner[row]
        return (
            f"{CODE_OF_ID[code[row]]!r} (minutes late {minutes[row]}) conflicts with "
            f"{CODE_OF_ID[code[other]]!r} (minutes late {minutes[other]}) on line {line_of(other)}: "
            "same school, pupil, date, session and recorded_at"
            if minutes[row] != minutes[other] and code[row] == code[other]
            else f"{CODE_OF_ID[code[row]]!r} conflicts with {CODE_OF_ID[code[other]]!r} on line "
            f"{line_of(other)}: same school, pupil, date, session and recorded_at"
        )

    by_only = _differ_only_by_recorder(parsed, conflict, partner)
    return (
        Check("code", conflict & ~by_only, explain),
        Check("recorded_by", by_only, _explain_recorders(parsed, partner, line_of)),
    ), duplicate


def _differ_only_by_recorder(
    parsed: ParsedMarks, conflict: BoolArray, partner: dict[int, int]
) -> BoolArray:
    """Conflicting rows whose partner has their code and minutes but another MIS user."""
    out = np.zeros(len(conflict), dtype=bool)
    if parsed.recorded_by is None:
        return out
    code, minutes = parsed.code, parsed.minutes_late
    for row in np.flatnonzero(conflict).tolist():  # conflicts are rare: a loop is fine
        other = partner[row]
        out[row] = code[row] == code[other] and minutes[row] == minutes[other]
    return out


def _explain_recorders(
    parsed: ParsedMarks, partner: dict[int, int], line_of: Callable[[int], int]
) -> Callable[[int], str]:
    def name(row: int) -> str:
        assert parsed.recorded_by is not None  # only called for rows that differ in it
        i = int(parsed.recorded_by[row])
        return repr(parsed.recorders[i]) if i >= 0 else "blank"

    def explain(row: int) -> str:
        other = partner[row]
        return (
            f"{name(row)} conflicts with {name(other)} on line {line_of(other)}: "
            "same school, pupil, date, session and recorded_at"
        )

    return explain


def _session_key(parsed: ParsedMarks, rows: IntArray | None) -> IntArray:
    """One int64 per row naming its school, pupil and session."""
    school, pupil, session = parsed.school, parsed.pupil, parsed.session
    if rows is not None:
        school, pupil, session = school[rows], pupil[rows], session[rows]
    span = int(parsed.session.max(initial=0)) + 1
    return (school.astype(np.int64) * len(parsed.pupils) + pupil) * span + session


def _sharing_a_session(parsed: ParsedMarks, good: BoolArray) -> IntArray:
    """The good rows whose session has another good row. Most sessions have one row, and files
    usually come sorted, so a sort is only needed when the keys are out of order."""
    rows = None if good.all() else np.flatnonzero(good)
    key = _session_key(parsed, rows)
    if len(key) < 2:
        return np.zeros(0, dtype=np.int64)
    step = np.diff(key)
    if (step > 0).all():
        return np.zeros(0, dtype=np.int64)
    if (step >= 0).all():
        order = None
        same = step == 0
    else:
        order = np.argsort(key, kind="stable")
        same = key[order][1:] == key[order][:-1]
    shared = np.zeros(len(key), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    positions = np.flatnonzero(shared) if order is None else order[shared]
    return positions if rows is None else rows[positions]


def _mark_versions(
    parsed: ParsedMarks,
    ordered: IntArray,
    key: IntArray,
    conflict: BoolArray,
    duplicate: BoolArray,
    partner: dict[int, int],
) -> None:
    """``ordered``: rows sorted by session, then recorded_at, then line; ``key``: their sessions."""
    recorded = parsed.recorded_at[ordered]
    same_version = (key[1:] == key[:-1]) & (recorded[1:] == recorded[:-1])
    value = parsed.code[ordered].astype(np.int64) * 65536 + parsed.minutes_late[ordered]
    if parsed.recorded_by is not None:
        # The MIS user in the low 32 bits (shifted past -1); code and minutes fit above them.
        value = value * (1 << 32) + (parsed.recorded_by[ordered].astype(np.int64) + 1)
    same_value = value[1:] == value[:-1]
    run = np.cumsum(np.concatenate(([True], ~same_version))) - 1
    ambiguous = np.zeros(int(run[-1]) + 1, dtype=bool)
    ambiguous[run[1:][same_version & ~same_value]] = True
    conflict[ordered[ambiguous[run]]] = True
    duplicate[ordered[1:][same_version & same_value]] = True
    duplicate &= ~conflict
    bounds = np.concatenate((np.flatnonzero(np.diff(run)) + 1, [len(run)]))
    starts = np.concatenate(([0], bounds[:-1]))
    for r in np.flatnonzero(ambiguous):
        members = ordered[starts[r] : bounds[r]]
        values = value[starts[r] : bounds[r]]
        for i, row in enumerate(members):
            partner[int(row)] = int(members[np.flatnonzero(values != values[i])[0]])
