"""Finding a pupil by what a member of staff types: the start of their id, of their name, or of
any one of their names, in any case and without accents ("kha" finds Amira Khan, "gul" Gül,
"s01-p00" every pupil whose id starts so). Pure: the roster is handed in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from escalation_flow.core.marks import PupilRecord


@dataclass(frozen=True)
class Named:
    """A pupil id and the name it shows with ("" where the roster gives none)."""

    pupil: str
    name: str

    def label(self) -> str:
        return f"{self.pupil} ({self.name})" if self.name else self.pupil


def full_name(record: PupilRecord | None) -> str:
    """Forename and surname as the roster gives them; "" without a roster row."""
    if record is None:
        return ""
    return " ".join(p for p in (record.forename.strip(), record.surname.strip()) if p)


def _fold(text: str) -> str:
    # any case and no accents ("gul" finds Gül, "I" finds ı), runs of spaces as one
    bare = unicodedata.normalize("NFKD", text.casefold().replace("ı", "i"))
    plain = "".join(c for c in bare if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFKD", plain.casefold()).split())


def matches(query: str, pupil: str, name: str) -> bool:
    """Whether ``query`` starts the pupil's id, their whole name, or any one of their names
    (hyphenated parts included: "jones" finds Smith-Jones), ignoring case. An empty query
    matches every pupil."""
    wanted = _fold(query)
    if not wanted:
        return True
    folded = _fold(name)
    words = folded.split()
    parts = [p for w in words for p in w.split("-")]
    candidates = (_fold(pupil), folded, *words, *parts)
    return any(c.startswith(wanted) for c in candidates)


def search(query: str, pupils: Iterable[Named]) -> list[Named]:
    """The pupils ``query`` finds, in the order given; an exact id, when among them, alone
    (so "S01-P001" does not also find S01-P0010..S01-P0019)."""
    found = [p for p in pupils if matches(query, p.pupil, p.name)]
    exact = [p for p in found if _fold(p.pupil) == _fold(query)]
    return exact or found
