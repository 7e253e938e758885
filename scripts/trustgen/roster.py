"""Invented pupils: names, year groups, dates of birth, admissions and leavers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FORENAMES = (
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
    "Grace", "Freya", "Willow", "Evie", "Poppy", "Ella", "Aisha", "Zara", "Maya", "Hannah",
    "Chloe", "Ruby", "Emily", "Layla", "Nia", "Priya", "Fatima", "Sienna", "Harper", "Erin",
    "Noah", "Muhammad", "George", "Oliver", "Leo", "Arthur", "Oscar", "Theo", "Freddie", "Jack",
    "Harry", "Archie", "Henry", "Charlie", "Finley", "Alfie", "Jacob", "Ethan", "Isaac", "Thomas",
    "Joshua", "Samuel", "Adam", "Kai", "Yusuf", "Mason", "Reuben", "Dylan", "Ravi"
)
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Wright", "Robinson", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Khan", "Hughes", "Edwards", "Hill", "Moore", "Lewis", "Harris",
    "Martin", "Cooper", "King", "Baker", "Ali", "Begum", "Turner", "Ward", "Kaur", "Singh",
    "Morris", "Young", "Allen", "Scott", "Mitchell", "Carter", "Phillips", "Campbell", "Nowak",
    "Kowalski", "Okafor", "Adeyemi", "Murphy", "Kelly", "Price", "Bennett", "Shaw", "Chapman",
    "Hussain", "Ahmed", "Mensah", "Rossi"
)


class Phase(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


#: Year groups as the DfE's NCyearActual spells them; index = years since Reception.
YEAR_GROUPS: dict[Phase, tuple[int, ...]] = {
    Phase.PRIMARY: tuple(range(0, 7)),
    Phase.SECONDARY: tuple(range(7, 12)),
}
MID_YEAR_ADMISSIONS = 0.02
LEAVERS = 0.015


def year_label(year: int) -> str:
    return "R" if year == 0 else str(year)


@dataclass(frozen=True)
class Pupils:
    """One school's pupils; ``first``/``last`` are the range's day indices they are on roll."""

    ids: tuple[str, ...]
    forenames: tuple[str, ...]
    surnames: tuple[str, ...]
    year: npt.NDArray[np.int8]
    born: tuple[date, ...]
    admitted: tuple[date, ...]
    left: tuple[date | None, ...]
    first: npt.NDArray[np.int32]
    last: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def whole_range(self) -> npt.NDArray[np.bool_]:
        """Pupils on roll for every day of the range."""
        whole: npt.NDArray[np.bool_] = (self.first == 0) & (self.last == self.last.max())
        return whole


def make_pupils(
    number: int, phase: Phase, n: int, days: Sequence[date], rng: np.random.Generator
) -> Pupils:
    """``n`` pupils of school ``number``, ids ``S<number>-P<i>``, over the range ``days``."""
    groups = np.array(YEAR_GROUPS[phase], dtype=np.int8)
    year = groups[rng.permutation(n) % len(groups)]
    autumn = days[0].year if days[0].month >= 9 else days[0].year - 1
    born = tuple(_birthday(autumn, int(y), rng) for y in year)
    entry = groups[0]
    on_roll_since = tuple(date(autumn - int(y - entry), 9, 1) for y in year)
    first = np.zeros(n, dtype=np.int32)
    last = np.full(n, len(days) - 1, dtype=np.int32)
    left: list[date | None] = [None] * n
    admitted = list(on_roll_since)
    if len(days) > 12:
        joins = rng.random(n) < MID_YEAR_ADMISSIONS
        leaves = ~joins & (rng.random(n) < LEAVERS)
        first[joins] = rng.integers(5, len(days) - 5, int(joins.sum()))
        last[leaves] = rng.integers(5, len(days) - 5, int(leaves.sum()))
        for i in np.flatnonzero(joins):
            admitted[i] = days[first[i]]
        for i in np.flatnonzero(leaves):
            left[i] = days[last[i]]
    return Pupils(
        ids=tuple(f"S{number:02d}-P{i + 1:04d}" for i in range(n)),
        forenames=tuple(FORENAMES[i] for i in rng.integers(0, len(FORENAMES), n)),
        surnames=tuple(SURNAMES[i] for i in rng.integers(0, len(SURNAMES), n)),
        year=year,
        born=born,
        admitted=tuple(admitted),
        left=tuple(left),
        first=first,
        last=last,
    )


def _birthday(autumn: int, year: int, rng: np.random.Generator) -> date:
    # Reception in the autumn of ``autumn`` were born between 1 September 5 years earlier and
    # 31 August 4 years earlier; each year group above is a year older.
    start = date(autumn - 5 - year, 9, 1)
    return start + timedelta(days=int(rng.integers(0, 365)))


def roster_lines(school: str, pupils: Pupils) -> list[str]:
    """CSV lines (no header) for ``roster.csv``; names hold no commas or quotes."""
    return [
        ",".join(
            (
                school,
                pupils.ids[i],
                pupils.forenames[i],
                pupils.surnames[i],
                year_label(int(pupils.year[i])),
                pupils.born[i].isoformat(),
                pupils.admitted[i].isoformat(),
                left.isoformat() if (left := pupils.left[i]) else "",
            )
        )
        + "\n"
        for i in range(len(pupils))
    ]


ROSTER_HEADER = "school,pupil,forename,surname,year_group,date_of_birth,admitted,left\n"
