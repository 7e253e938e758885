"""Whether one household's copy of a letter may still go as it was addressed when the letter
was prepared (``letters.addressing``), given the pupil's contacts as known now. Pure.

Contacts change after a letter is prepared: the MIS marks a parent "may not be contacted" (a
court order, a safeguarding reason), a parent moves (perhaps to a refuge whose address the
other parent must never learn) or changes email. A copy addressed from stale contacts must not
go: a copy naming a contact who may no longer be contacted (or who no longer holds parental
responsibility) is **cancelled**; a copy whose household's names, postal address or emails are
no longer what the MIS says **needs readdressing** (staff prepare the letter again:
``readdress`` says what that does to each copy; ``letters readdress`` does it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# -- preparing a held letter again (``letters readdress``) ----------------------------------------


@dataclass(frozen=True)
class Readdressing:
    """What preparing a letter again from the contacts as known now does to its copies."""

    #: the letter's copies after: each household as known now, except a copy that went (or is
    #: going) as it was addressed, which the letter keeps as it went
    addressees: tuple[Household, ...]
    #: held copies given their household as known now: (household key, before, after)
    readdressed: tuple[tuple[str, Household, Household], ...]
    #: households with no copy before (a parent with parental responsibility recorded since)
    added: tuple[Household, ...]
    #: held copies no household now holds (their contacts regrouped, or gone): never sent
    cancelled: tuple[Household, ...]

    def changes(self) -> list[str]:
        """What changed, copy by copy, in words for the member of staff (names, never in logs)."""
        out = [
            f"copy to {_who(after)}: {_diff(before, after)}"
            for _, before, after in self.readdressed
        ]
        out += [
            f"new copy to {_who(h)} (a household the letter did not address)" for h in self.added
        ]
        out += [
            f"copy to {_who(h)} cancelled: its household is no longer as it was"
            for h in self.cancelled
        ]
        return out


def key_of(h: Household) -> str:
    """The outbox's key for a household's copy: its contact ids, comma-separated."""
    return ",".join(h.contacts)


def readdress(
    copies: Sequence[Household], statuses: dict[str, str], known: Sequence[ContactVersion]
) -> Readdressing:
    """The letter's copies ``copies`` (as prepared), the status of each one's outbox row by
    household key (``statuses``), and the pupil's contacts ``known`` now: which held copies
    take their household as known now, which households are new, which held copies go."""
    before = {key_of(h): h for h in copies}
    now = households(known)
    keys_now = {key_of(h) for h in now}
    addressees: list[Household] = []
    readdressed: list[tuple[str, Household, Household]] = []
    added: list[Household] = []
    for h in now:
        key = key_of(h)
        status = statuses.get(key)
        if status == NEEDS_READDRESSING:
            readdressed.append((key, before[key], h))
            addressees.append(h)
        elif status is None:
            added.append(h)
            addressees.append(h)
        else:
            addressees.append(before.get(key, h))  # it went (or is going) as it was addressed
    cancelled = [
        h for k, h in before.items() if k not in keys_now and statuses.get(k) == NEEDS_READDRESSING
    ]
    addressees += [
        h for k, h in before.items() if k not in keys_now and statuses.get(k) != NEEDS_READDRESSING
    ]
    return Readdressing(tuple(addressees), tuple(readdressed), tuple(added), tuple(cancelled))


def _who(h: Household) -> str:
    return " and ".join(h.names) or "the parent or carer"


def _diff(before: Household, after: Household) -> str:
    parts = []
    if before.names != after.names:
        parts.append(f"names {' and '.join(before.names)} -> {' and '.join(after.names)}")
    if before.postal_address != after.postal_address:
        parts.append(f"postal address {before.postal_address or '(none)'} -> "
                     f"{after.postal_address or '(none)'}")  # fmt: skip
    if before.emails != after.emails:
        parts.append(f"emails {', '.join(before.emails) or '(none)'} -> "
                     f"{', '.join(after.emails) or '(none)'}")  # fmt: skip
    return "; ".join(parts) or "addressed again, unchanged"


@dataclass(frozen=True)
class Readdressed:
    """What to write: the letter's new content, and its rows (``outbox`` column values)."""

    letter_id: int
    html: str
    figures: str
    pdf: bytes | None  # None: the letter was never rendered, and is not now
    updated: Mapping[int, Mapping[str, Any]]  # held row id -> its new values
    added: Sequence[Mapping[str, Any]]  # new rows
    cancelled: Sequence[int]  # held row ids
    reason: str  # why a held copy is cancelled
