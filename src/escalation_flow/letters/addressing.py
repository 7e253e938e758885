"""Who a pupil's letter goes to: the households of the contacts with parental responsibility.

The law writes to parents, and "parent" includes everyone with parental responsibility. Parents
who live apart each receive the letter at their own address; parents at one address share one
letter addressed to both ("Ms A Khan and Mr B Khan"). A contact the MIS marks as not to be
contacted is left out (a court order, a safeguarding reason) and never guessed at.

Households are keyed on the postal address as written, compared without case or spacing, so
"12 Station Rd" and "12 station rd " are one household but "12 Station Road" is another: the
MIS is the place to make addresses agree, and two letters are safer than one lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from escalation_flow.core.contacts import ContactVersion


@dataclass(frozen=True)
class Household:
    """One letter's addressees: the contacts with parental responsibility at one address.

    The empty household (no names) is the copy of a pupil with no such contact known: addressed
    "To the parent or carer of <pupil>" and flagged for the office to address by hand."""

    #: contact ids, in the pupil's contact priority order
    contacts: tuple[str, ...] = ()
    #: their names, in the same order
    names: tuple[str, ...] = ()
    #: the postal address as the MIS gave it (may be empty: then the letter goes by email only)
    postal_address: str = ""
    #: their email addresses, in the same order, blanks dropped, each once
    emails: tuple[str, ...] = ()

    @property
    def needs_address(self) -> bool:
        """The office must write the name or the address by hand before posting: no contact
        with parental responsibility was known, or no postal address."""
        return not self.names or not self.postal_address.strip()

    @property
    def address_lines(self) -> tuple[str, ...]:
        """The postal address a line at a time (the MIS writes it with commas or new lines)."""
        parts = self.postal_address.replace("\n", ",").split(",")
        return tuple(p.strip() for p in parts if p.strip())

    @property
    def salutation_names(self) -> str:
        """"Ms A Khan", "Ms A Khan and Mr B Khan", "A, B and C"."""
        if len(self.names) <= 1:
            return "".join(self.names)
        return ", ".join(self.names[:-1]) + " and " + self.names[-1]


def households(contacts: Iterable[ContactVersion]) -> list[Household]:
    """The households of one pupil's contacts (already ``as_known_at``, in priority order):
    those with parental responsibility who may be contacted, grouped by postal address, in
    the order of each household's first contact."""
    groups: dict[str, list[ContactVersion]] = {}
    for c in contacts:
        if not c.parental_responsibility or c.may_be_contacted is False:
            continue
        key = _address_key(c.address) or f"\0{c.contact}"  # no address: a household of one
        groups.setdefault(key, []).append(c)
    return [_household(members) for members in groups.values()]


def _household(members: list[ContactVersion]) -> Household:
    emails: list[str] = []
    for c in members:
        e = c.email.strip()
        if e and e.lower() not in (x.lower() for x in emails):
            emails.append(e)
    return Household(
        contacts=tuple(c.contact for c in members),
        names=tuple(c.name for c in members),
        postal_address=members[0].address.strip(),
        emails=tuple(emails),
    )


def _address_key(address: str) -> str:
    return " ".join(address.lower().replace(",", " ").split())
