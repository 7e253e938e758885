"""Counters since a moment in the case: ``<measure>_since_<anchor>``.

The measures count sessions of the register (``unauthorised_sessions``: G N O U;
``absence_sessions``: authorised and unauthorised absence; ``late_sessions``: L and U). The
anchors are the day the current state was entered (``state_entry``), the day the current stage
was entered (``stage_entry``), the day the case opened (``case_opened``), or the day an event or
task of the flow was last recorded in the case (its id: ``unauthorised_sessions_since_warning_letter``
counts after the last ``warning_letter`` task was completed).

"Since" a day is the sessions of the school days after it through the as-of day: the anchor
falls during its day (an evening's escalation, a staff action), so that day's sessions are
before it, as for ``attendance_pct_since_state_entry``. One exception: ``case_opened`` counts
*from* the day the case opened, whose marks are what opened it (the case's period, which a
notice to improve or an enforcement letter cites, holds the absence that began it).

Before the anchor happened (no case, an event never recorded in this case) a counter is
**unknown**, not 0: "no unauthorised absence since the warning" must not hold for a family
that was never warned. A guard that means "not warned, or no absence since" says so:
``warning_letter_recorded == 0 or unauthorised_sessions_since_warning_letter == 0``.
"""

from __future__ import annotations

from collections.abc import Iterable

from escalation_flow.core.packed_counts import Key

MEASURES: dict[str, tuple[Key, ...]] = {
    "unauthorised_sessions": (Key.UNAUTHORISED,),
    "absence_sessions": (Key.AUTHORISED, Key.UNAUTHORISED),
    "late_sessions": (Key.LATE_BEFORE_CLOSE, Key.LATE_AFTER_CLOSE),
}
STATE_ENTRY, STAGE_ENTRY, CASE_OPENED = "state_entry", "stage_entry", "case_opened"
#: Anchors every case has: an event or task may not take one of these ids.
CASE_ANCHORS = (STATE_ENTRY, STAGE_ENTRY, CASE_OPENED)


def parse_since(name: str) -> tuple[tuple[Key, ...], str] | None:
    """``(keys counted, anchor)`` of a ``<measure>_since_<anchor>`` name, or None."""
    measure, sep, anchor = name.partition("_since_")
    if not sep or not anchor or measure not in MEASURES:
        return None
    return MEASURES[measure], anchor


def since_recorded_names(ids: Iterable[str]) -> set[str]:
    """The counters a flow with these event and task ids may name, besides the case facts."""
    return {f"{measure}_since_{i}" for i in ids for measure in MEASURES}


def recorded_anchors(names: Iterable[str]) -> set[str]:
    """The event and task ids whose last recorded day these names count from."""
    out = set()
    for name in names:
        parsed = parse_since(name)
        if parsed is not None and parsed[1] not in CASE_ANCHORS:
            out.add(parsed[1])
    return out
