"""Pupils' contacts (parents and carers), as known at a time, and the families they make.

A contact row is one *version* of what the MIS said about one contact of one pupil: who they
are, whether they hold parental responsibility, whether they live with the pupil, how to reach
them. Like marks, versions are only ever added: a later version of the same (school, pupil,
contact) is an amendment, and ``as_known_at`` answers "what did we know at T".

**Families.** Two pupils are *siblings* when they share a contact (the same contact id, stable
across the trust's schools) who holds parental responsibility for both. A *family* is the
closure of that link across every school of the trust: half-siblings through different parents
are one family (A and B share their mother, B and C their father: A, B and C are one family,
and each is listed among the others' siblings). A contact without parental responsibility (a
grandparent, a childminder) links no one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

#: A pupil across the trust: (school, pupil id).
PupilKey = tuple[str, str]


@dataclass(frozen=True)
class ContactVersion:
    """One version of one contact of one pupil, as recorded at ``recorded_at``."""

    school: str
    pupil: str
    contact: str
    name: str
    relationship: str
    parental_responsibility: bool
    recorded_at: datetime
    lives_with_pupil: bool | None = None
    address: str = ""
    email: str = ""
    telephone: str = ""
    priority: int | None = None
    may_be_contacted: bool | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.school, self.pupil, self.contact)

    @property
    def pupil_key(self) -> PupilKey:
        return (self.school, self.pupil)

    def same_details(self, other: ContactVersion) -> bool:
        """Whether ``other`` says the same about this contact (``recorded_at`` aside)."""
        return _details(self) == _details(other)


def _details(c: ContactVersion) -> tuple[object, ...]:
    return (
        c.key, c.name, c.relationship, c.parental_responsibility, c.lives_with_pupil,
        c.address, c.email, c.telephone, c.priority, c.may_be_contacted,
    )  # fmt: skip


def as_known_at(
    versions: Iterable[ContactVersion], known_at: datetime | None = None
) -> list[ContactVersion]:
    """Each (school, pupil, contact)'s latest version recorded by ``known_at`` (None: every
    version), in (school, pupil, priority, contact) order. Versions with the same
    ``recorded_at`` keep the one given last (a later import)."""
    latest: dict[tuple[str, str, str], ContactVersion] = {}
    for v in versions:
        if known_at is not None and v.recorded_at > known_at:
            continue
        held = latest.get(v.key)
        if held is None or v.recorded_at >= held.recorded_at:
            latest[v.key] = v
    return sorted(latest.values(), key=_order)


def _order(c: ContactVersion) -> tuple[str, str, int, str]:
    return (c.school, c.pupil, c.priority if c.priority is not None else 1_000_000, c.contact)


@dataclass(frozen=True)
class Families:
    """The trust's families as one contact book (already ``as_known_at``) makes them."""

    #: each linked pupil's family: every pupil of it, sorted (a pupil without siblings: absent)
    family_of: Mapping[PupilKey, tuple[PupilKey, ...]]
    #: each pupil's contacts with parental responsibility, by contact id
    responsible: Mapping[PupilKey, tuple[ContactVersion, ...]]

    def siblings(self, school: str, pupil: str) -> tuple[PupilKey, ...]:
        """The other pupils of the pupil's family, in (school, pupil) order."""
        me = (school, pupil)
        return tuple(p for p in self.family_of.get(me, ()) if p != me)

    def shared_contacts(self, a: PupilKey, b: PupilKey) -> tuple[str, ...]:
        """Names of the contacts with parental responsibility for both ``a`` and ``b``
        (empty for siblings linked only through another sibling)."""
        mine = {c.contact: c.name for c in self.responsible.get(a, ())}
        theirs = {c.contact for c in self.responsible.get(b, ())}
        return tuple(mine[c] for c in sorted(mine) if c in theirs)


def families(contacts: Iterable[ContactVersion]) -> Families:
    """The families of a contact book (each entry one contact of one pupil, as known at a
    time): the closure of "shares a contact with parental responsibility"."""
    parent: dict[PupilKey, PupilKey] = {}

    def find(p: PupilKey) -> PupilKey:
        root = p
        while parent[root] != root:
            root = parent[root]
        while parent[p] != root:  # flatten the path walked
            parent[p], p = root, parent[p]
        return root

    responsible: dict[PupilKey, list[ContactVersion]] = {}
    first_child: dict[str, PupilKey] = {}
    for c in contacts:
        if not c.parental_responsibility:
            continue
        me = c.pupil_key
        parent.setdefault(me, me)
        responsible.setdefault(me, []).append(c)
        other = first_child.setdefault(c.contact, me)
        a, b = find(me), find(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[PupilKey, list[PupilKey]] = {}
    for p in parent:
        members.setdefault(find(p), []).append(p)
    family_of = {
        p: tuple(sorted(group)) for group in members.values() if len(group) > 1 for p in group
    }
    return Families(family_of, {p: tuple(cs) for p, cs in responsible.items()})
