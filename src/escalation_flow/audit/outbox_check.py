"""The outbox against its records on each case's chain: a row whose recipients (names, emails,
postal address, channel, household, Message-ID) or state changed since the service wrote them,
a row no record queued, or a queued row gone.

The sender refuses a row whose recipients are not those chained when it was queued
(``service/outbox``); this names the edit where it happened, sent or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from escalation_flow.adapters.store.outbox import (
    LETTER_CANCELLED,
    LETTER_DELIVERY,
    LETTER_HELD,
    LETTER_PRINTED,
    LETTER_QUEUED,
    StoredCopy,
)
from escalation_flow.audit.verify import Breach
from escalation_flow.core.chain import case_chain
from escalation_flow.core.delivery import BEFORE_OUTBOX, CANCELLED, PRINTED, QUEUED, SENDING


def check_outbox(
    copies: Sequence[StoredCopy], subjects: Mapping[tuple[str, str], list[Any]]
) -> list[Breach]:
    """``copies``: the outbox rows of the schools checked; ``subjects``: the records of the
    same schools' chains. A copy is known by its letter and household (ids are reused)."""
    recorded = _recorded(subjects)
    out: list[Breach] = []
    for copy in copies:
        where = f"{_name(copy.letter_id, copy.household)} ({copy.school}/{copy.pupil})"
        found = recorded.pop((copy.letter_id, copy.household), None)
        if found is None:
            if copy.status != BEFORE_OUTBOX:  # markers of the upgrade: no record, never sent
                out.append(Breach(where, None, "outbox_added", "no record queued it"))
            continue
        if found.chain != case_chain(copy.school, copy.pupil) or found.row != copy.id:
            out.append(Breach(where, None, "outbox_edited", "not the row its record queued"))
        elif found.digest != copy.digest:
            out.append(
                Breach(where, None, "outbox_edited", "its recipients changed since it was queued")
            )
        elif copy.status != found.status and (copy.status, found.status) != (SENDING, QUEUED):
            out.append(
                Breach(where, None, "outbox_edited",
                       f"recorded as {found.status}, now {copy.status}")
            )  # fmt: skip
    out += [
        Breach(_name(*key), None, "outbox_deleted", f"queued on {r.chain}, gone from the outbox")
        for key, r in sorted(recorded.items())
    ]
    return out


@dataclass
class _Queued:
    chain: str
    row: int
    digest: str
    status: str  # the state its last record left it in


def _name(letter: int, household: str) -> str:
    return f"outbox letter {letter} copy {household or 'with no contact'}"


def _recorded(subjects: Mapping[tuple[str, str], list[Any]]) -> dict[tuple[int, str], _Queued]:
    """Each queued copy, by (letter, household)."""
    out: dict[tuple[int, str], _Queued] = {}
    for (chain, subject), entries in subjects.items():
        if not subject.startswith("letter "):
            continue
        rows: dict[int, _Queued] = {}
        for kind, body in entries:
            row = body.get("outbox")
            if kind == LETTER_QUEUED:
                key = (int(body["letter"]), ",".join(body.get("contacts") or []))
                out[key] = rows[int(row)] = _Queued(
                    chain, int(row), str(body.get("recipients") or ""), str(body["status"])
                )
            elif row is not None and int(row) in rows:
                rows[int(row)].status = _state_after(kind, body, rows[int(row)].status)
    return out


def _state_after(kind: str, body: Mapping[str, Any], was: str) -> str:
    if kind in (LETTER_DELIVERY, LETTER_HELD):
        return str(body["status"])
    if kind == LETTER_PRINTED:
        return PRINTED
    if kind == LETTER_CANCELLED:
        return CANCELLED
    return was
