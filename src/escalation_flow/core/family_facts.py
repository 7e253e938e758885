"""Facts about a pupil's family across the trust's schools, from the previous evening's snapshot.

A school's evening is otherwise a function of its own register and cases. A fact over siblings
at other schools would make it depend on whether their evening ran first, so family facts never
read tonight's state: they read a ``FamilySnapshot`` of every school as its *previous* evening
left it (its last school day before the day evaluated: which cases were open, each pupil's
unauthorised sessions over the last 10 school weeks) and the contacts as known at the start of
the day evaluated. Every school's evening of a day reads the same snapshot, so the schools run
in any order and a replay reading the same snapshot decides the same.

- ``siblings_with_open_cases``: the pupil's siblings (``core.contacts.families``, any school of
  the trust) whose case was open at the end of their school's previous evening;
- ``family_unauthorised_sessions_last_10_school_weeks``: the sum of that fact over the family,
  the pupil included (a pupil without known siblings: their own figure), each member as of their
  school's previous evening; unknown before any school has had an evening;
- ``has_social_worker``: 1 when a contact of the pupil is their social worker
  (``is_social_worker``), else 0.

Without a snapshot (no contacts known to the caller) all three are unknown (NaN), so a guard
naming them does not fire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

from escalation_flow.core.contacts import (
    ContactVersion,
    Families,
    PupilKey,
    as_known_at,
    families,
)
from escalation_flow.core.definition import Flow
from escalation_flow.core.school_cases import BoolArray, FloatArray

SIBLINGS_WITH_OPEN_CASES = "siblings_with_open_cases"
FAMILY_UNAUTHORISED_LAST_10_WEEKS = "family_unauthorised_sessions_last_10_school_weeks"
HAS_SOCIAL_WORKER = "has_social_worker"
FAMILY_FACT_NAMES = (SIBLINGS_WITH_OPEN_CASES, FAMILY_UNAUTHORISED_LAST_10_WEEKS, HAS_SOCIAL_WORKER)



def is_social_worker(contact: ContactVersion) -> bool:
    """Whether the contact is the pupil's social worker: the words "social worker" in its
    ``relationship``, in any case, spaced by anything ("Social_Worker", "Children’s Social
    Worker", "Allocated social worker", "Social worker (LA)"). A miss here means a designated
    safeguarding lead is never told to notify, so the match is generous."""
    return "social worker" in f" {_plain(contact.relationship)} "


def _plain(text: str) -> str:
    # apostrophes of any kind join ("children’s" -> "childrens"); other punctuation separates
    joined = re.sub(r"['’‘`]", "", text.lower())
    return " ".join(re.sub(r"[^0-9a-z]+", " ", joined).split())


def contacts_cut(on: date, timezone: str) -> datetime:
    """The instant the contacts of school day ``on`` are known at: the last moment before
    ``on`` began in the school's time zone (a version recorded at midnight is the day's own)."""
    start = datetime.combine(on, time(0), tzinfo=ZoneInfo(timezone))
    return start - timedelta(microseconds=1)


@dataclass(frozen=True)
class SchoolEvening:
    """What one school's evening left: per pupil of its register, whether their case was open
    and their unauthorised sessions over the last 10 school weeks."""

    school: str
    pupils: tuple[str, ...]
    open_case: BoolArray
    unauthorised_last_10_school_weeks: FloatArray

    @cached_property
    def _index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.pupils)}

    def index(self, pupil: str) -> int | None:
        return self._index.get(pupil)


@dataclass(frozen=True)
class FamilySnapshot:
    """Every school's previous evening and the families as known at the start of the day."""

    families: Families
    evenings: Mapping[str, SchoolEvening]
    social_workers: frozenset[PupilKey] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, contacts: Iterable[ContactVersion], evenings: Iterable[SchoolEvening]
    ) -> FamilySnapshot:
        """``contacts``: one version per contact of a pupil, already ``as_known_at`` the cut."""
        known = list(contacts)
        workers = frozenset(c.pupil_key for c in known if is_social_worker(c))
        return cls(families(known), {e.school: e for e in evenings}, workers)

    def open_case(self, who: PupilKey) -> bool:
        evening = self.evenings.get(who[0])
        i = evening.index(who[1]) if evening is not None else None
        return bool(evening.open_case[i]) if evening is not None and i is not None else False

    def unauthorised(self, who: PupilKey) -> float:
        """The pupil's figure at their school's previous evening (0: not on its register)."""
        evening = self.evenings.get(who[0])
        i = evening.index(who[1]) if evening is not None else None
        if evening is None or i is None:
            return 0.0
        return float(evening.unauthorised_last_10_school_weeks[i])


def contacts_only_facts(
    contacts: Iterable[ContactVersion], school: str, pupils: Sequence[str]
) -> dict[str, FloatArray]:
    """The family facts a caller without every school's previous evening can give:
    ``has_social_worker`` from ``contacts`` (as known at the cut), the two facts across schools
    unknown (NaN)."""
    workers = {c.pupil for c in contacts if c.school == school and is_social_worker(c)}
    facts = family_facts(None, school, pupils)
    facts[HAS_SOCIAL_WORKER] = np.array([1.0 if p in workers else 0.0 for p in pupils])
    return facts


def family_names_read(flow: Flow) -> list[str]:
    """The family facts ``flow``'s guards name, sorted."""
    names = {n for guard in flow.guards.values() for n in guard.names}
    return sorted(names & set(FAMILY_FACT_NAMES))


def family_facts(
    snapshot: FamilySnapshot | None, school: str, pupils: Sequence[str]
) -> dict[str, FloatArray]:
    """The three family facts for every pupil of ``school`` (NaN throughout without a
    snapshot)."""
    n = len(pupils)
    if snapshot is None:
        return {name: np.full(n, np.nan) for name in FAMILY_FACT_NAMES}
    siblings_open = np.zeros(n)
    total = np.full(n, np.nan if not snapshot.evenings else 0.0)
    social = np.zeros(n)
    own = snapshot.evenings.get(school)
    if own is not None:
        rows = [own.index(p) for p in pupils]
        known = np.array([i is not None for i in rows], dtype=bool)
        picked = np.array([i if i is not None else 0 for i in rows], dtype=np.int64)
        # a stored evening keeps only some pupils, perhaps none (``kept_rows``)
        held = own.unauthorised_last_10_school_weeks
        mine = held[picked] if n and len(held) else np.zeros(n)
        total = np.where(known, mine, 0.0)
    for i, pupil in enumerate(pupils):
        me = (school, pupil)
        if me in snapshot.social_workers:
            social[i] = 1.0
        siblings = snapshot.families.siblings(school, pupil)
        if not siblings:
            continue
        siblings_open[i] = sum(snapshot.open_case(s) for s in siblings)
        if snapshot.evenings:
            total[i] = snapshot.unauthorised(me) + sum(snapshot.unauthorised(s) for s in siblings)
    return {
        SIBLINGS_WITH_OPEN_CASES: siblings_open,
        FAMILY_UNAUTHORISED_LAST_10_WEEKS: total,
        HAS_SOCIAL_WORKER: social,
    }


#: A kept pupil of an evening: (pupil, open case, unauthorised sessions; None: unknown).
EveningRow = tuple[str, bool, float | None]


def kept_rows(evening: SchoolEvening) -> list[EveningRow]:
    """The pupils a stored evening keeps: an open case, or sessions other than 0 (None:
    unknown); ``FamilySnapshot`` reads a pupil left out as no open case and 0 sessions."""
    out = []
    for i, pupil in enumerate(evening.pupils):
        is_open = bool(evening.open_case[i])
        value = float(evening.unauthorised_last_10_school_weeks[i])
        if is_open or value != 0.0:
            out.append((pupil, is_open, None if math.isnan(value) else value))
    return out


def evening_of(school: str, rows: list[EveningRow]) -> SchoolEvening:
    """The ``SchoolEvening`` of kept rows (``kept_rows``), in pupil order."""
    rows = sorted(rows)
    return SchoolEvening(
        school,
        tuple(r[0] for r in rows),
        np.array([r[1] for r in rows], dtype=bool),
        np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64),
    )


def snapshot_at(
    contacts: Sequence[ContactVersion],
    evenings: Iterable[SchoolEvening],
    on: date,
    timezone: str,
    cut: datetime,
) -> FamilySnapshot | None:
    """The snapshot school day ``on`` reads at ``cut`` (the service's evening, timer or staff
    action: its start; a replay: the step's ``recorded_at``). ``evenings``: the stored evenings
    as read at ``cut`` (per school, its latest of a day before ``on`` recorded before ``cut``);
    ``contacts``: every version, read as known at the earlier of the day's start and ``cut``.
    None when no contact is known then: the facts across schools are unknown, as in a backtest
    without contacts."""
    known = as_known_at(contacts, min(contacts_cut(on, timezone), cut))
    return FamilySnapshot.of(known, evenings) if known else None


def facts_of(
    snapshot: FamilySnapshot | None, school: str, pupils: Sequence[str]
) -> dict[str, FloatArray]:
    """``family_facts`` of a ``snapshot_at``; without one, ``has_social_worker`` 0 (no contact
    names one) and the facts across schools unknown (``contacts_only_facts``)."""
    if snapshot is None:
        return contacts_only_facts((), school, pupils)
    return family_facts(snapshot, school, pupils)
