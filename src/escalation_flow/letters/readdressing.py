"""Whether one household's copy of a letter may still go as it was addressed when the letter
was prepared (``letters.addressing``), given the pupil's contacts as known now. Pure.

Contacts change after a letter is prepared: the MIS marks a parent "may not be contacted" (a
court order, a safeguarding reason), a parent moves (perhaps to a refuge whose address the
other parent must never learn) or changes email. A copy addressed from stale contacts must not
go: a copy naming a contact who may no longer be contacted (or who no longer holds parental
responsibility) is **cancelled**; a copy whose household's names, postal address or emails are
no longer what the MIS says **needs readdressing** (staff prepare the letter again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.delivery import CANCELLED, NEEDS_READDRESSING
from escalation_flow.letters.addressing import Household, households


@dataclass(frozen=True)
class Stale:
    """A copy that must not go as addressed: its outbox state and why (no names: logs and the
    chained record carry the reason)."""

    status: str  # CANCELLED or NEEDS_READDRESSING
    reason: str


NOT_TO_BE_CONTACTED = "a contact on this copy may no longer be contacted, the MIS says"
NO_RESPONSIBILITY = "a contact on this copy no longer has parental responsibility"
UNKNOWN_CONTACT = "a contact on this copy is no longer among the pupil's contacts"
CHANGED = (
    "the household's names, postal address or emails changed since the letter was prepared: "
    "prepare it again"
)


def stale_copy(copy: Household, known: Sequence[ContactVersion]) -> Stale | None:
    """Why ``copy`` must not go as addressed, given the pupil's contacts ``known`` now (each
    contact's latest version, ``core.contacts.as_known_at``); None: it still stands. The copy
    of a pupil with no contact known (addressed by hand) has nothing to compare."""
    if not copy.contacts:
        return None
    now = {c.contact: c for c in known}
    for contact in copy.contacts:
        version = now.get(contact)
        if version is None:
            return Stale(CANCELLED, UNKNOWN_CONTACT)
        if version.may_be_contacted is False:
            return Stale(CANCELLED, NOT_TO_BE_CONTACTED)
        if not version.parental_responsibility:
            return Stale(CANCELLED, NO_RESPONSIBILITY)
    household = next(h for h in households(known) if copy.contacts[0] in h.contacts)
    return None if household == copy else Stale(NEEDS_READDRESSING, CHANGED)
