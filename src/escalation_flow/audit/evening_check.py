"""The kept family evenings against their records on each school's evenings chain: an
evening's rows changed since the evening wrote them, an evening no record wrote, or a recorded
one gone.

Another school's decisions of the next day read these rows (``service/family_evenings``), so an
edit would change what a replay reads; this names it where it happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from escalation_flow.adapters.store.family_evenings import (
    FAMILY_EVENING,
    evening_digest,
    evening_subject,
    evenings_chain,
)
from escalation_flow.audit.verify import Breach
from escalation_flow.core.family_facts import EveningRow


def check_family_evenings(
    evenings: Sequence[tuple[str, date, list[EveningRow]]],
    subjects: Mapping[tuple[str, str], list[Any]],
) -> list[Breach]:
    """``evenings``: every kept evening of the schools checked; ``subjects``: the records of
    the same schools' chains."""
    out: list[Breach] = []
    seen: set[tuple[str, str]] = set()
    for school, day, rows in evenings:
        key = (evenings_chain(school), evening_subject(day))
        seen.add(key)
        recorded = [b for k, b in subjects.get(key, []) if k == FAMILY_EVENING]
        where = f"family evening {school} {day.isoformat()}"
        if not recorded:
            out.append(Breach(where, None, "evening_added", "no record wrote it"))
        elif recorded[-1].get("sha256") != evening_digest(rows):
            out.append(
                Breach(
                    where, None, "evening_edited", "its rows changed since the evening kept them"
                )
            )
    for (chain, subject), entries in sorted(subjects.items()):
        if (chain, subject) in seen or not any(k == FAMILY_EVENING for k, _ in entries):
            continue
        school, on = chain[len("school:") : -len("/evenings")], subject.split()[-1]
        out.append(
            Breach(
                f"family evening {school} {on}",
                None,
                "evening_deleted",
                "recorded as kept, gone from the family evenings",
            )
        )
    return out
