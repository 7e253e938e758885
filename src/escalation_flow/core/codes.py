"""DfE register codes as in force from 19 August 2024, and their categories.

Each code has a small integer id so that a register can be held as a numpy array of ``int8``;
``CATEGORY_OF_ID`` maps ids to categories in one vectorised ``take``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt


class Category(IntEnum):
    """What a session counts as. ``UNMARKED`` is a data-quality problem, never present or absent."""

    UNMARKED = 0
    PRESENT = 1
    APPROVED_ACTIVITY = 2
    AUTHORISED = 3
    UNAUTHORISED = 4
    NOT_POSSIBLE = 5


@dataclass(frozen=True)
class Code:
    code: str
    category: Category
    meaning: str


_TABLE: tuple[Code, ...] = (
    Code("/", Category.PRESENT, "present (AM)"),
    Code("\\", Category.PRESENT, "present (PM)"),
    Code("L", Category.PRESENT, "late, arrived before the register closed"),
    Code("K", Category.APPROVED_ACTIVITY, "attending provision arranged by the local authority"),
    Code("V", Category.APPROVED_ACTIVITY, "attending an educational visit or trip"),
    Code("P", Category.APPROVED_ACTIVITY, "participating in an approved sporting activity"),
    Code("W", Category.APPROVED_ACTIVITY, "attending work experience"),
    Code("B", Category.APPROVED_ACTIVITY, "attending any other approved educational activity"),
    Code("C", Category.AUTHORISED, "leave of absence for exceptional circumstances"),
    Code("C1", Category.AUTHORISED, "leave for a regulated performance or employment abroad"),
    Code("C2", Category.AUTHORISED, "leave for a part-time timetable"),
    Code("E", Category.AUTHORISED, "suspended or permanently excluded, no provision"),
    Code("I", Category.AUTHORISED, "illness (not medical or dental appointment)"),
    Code("J1", Category.AUTHORISED, "leave to attend an interview"),
    Code("M", Category.AUTHORISED, "medical or dental appointment"),
    Code("R", Category.AUTHORISED, "religious observance"),
    Code("S", Category.AUTHORISED, "study leave"),
    Code("T", Category.AUTHORISED, "parent travelling for occupational purposes"),
    Code("G", Category.UNAUTHORISED, "holiday not granted by the school"),
    Code("N", Category.UNAUTHORISED, "reason for absence not yet provided"),
    Code("O", Category.UNAUTHORISED, "absent in other or unknown circumstances"),
    Code("U", Category.UNAUTHORISED, "arrived in school after the register closed"),
    Code("D", Category.NOT_POSSIBLE, "dual registered, attending the other school"),
    Code("Q", Category.NOT_POSSIBLE, "unable to attend: lack of access arrangements"),
    Code("X", Category.NOT_POSSIBLE, "not required to be in school (non-compulsory school age)"),
    Code("Y1", Category.NOT_POSSIBLE, "unable to attend: transport not available"),
    Code("Y2", Category.NOT_POSSIBLE, "unable to attend: widespread travel disruption"),
    Code("Y3", Category.NOT_POSSIBLE, "unable to attend: part of the school premises closed"),
    Code("Y4", Category.NOT_POSSIBLE, "unable to attend: whole school site unexpectedly closed"),
    Code("Y5", Category.NOT_POSSIBLE, "unable to attend: criminal justice detention"),
    Code("Y6", Category.NOT_POSSIBLE, "unable to attend: public health guidance or law"),
    Code("Y7", Category.NOT_POSSIBLE, "unable to attend: any other unavoidable cause"),
    Code("Z", Category.NOT_POSSIBLE, "prospective pupil not on admission register"),
    Code("#", Category.NOT_POSSIBLE, "planned whole or partial school closure"),
)

#: Codes withdrawn in 2024; historic files may hold them, imported only through a mapping.
WITHDRAWN: Mapping[str, str] = {
    "H": "holiday authorised by the school (withdrawn 2024)",
    "J": "interview (withdrawn 2024; now J1)",
    "Y": "enforced closure (withdrawn 2024; now Y1-Y7)",
}

UNMARKED_CODE = "-"
UNMARKED_ID = 0

CODES: Mapping[str, Code] = {c.code: c for c in _TABLE}
#: id 0 is the unmarked session; real codes start at 1.
ID_OF_CODE: Mapping[str, int] = {c.code: i + 1 for i, c in enumerate(_TABLE)}
CODE_OF_ID: tuple[str, ...] = (UNMARKED_CODE, *(c.code for c in _TABLE))
CATEGORY_OF_ID: npt.NDArray[np.int8] = np.array(
    [Category.UNMARKED, *(c.category for c in _TABLE)], dtype=np.int8
)

#: Codes that name sessions of interest to the plans, as ids.
LATE_IDS: frozenset[int] = frozenset({ID_OF_CODE["L"], ID_OF_CODE["U"]})
N_ID: int = ID_OF_CODE["N"]
U_ID: int = ID_OF_CODE["U"]
L_ID: int = ID_OF_CODE["L"]
G_ID: int = ID_OF_CODE["G"]
I_ID: int = ID_OF_CODE["I"]
M_ID: int = ID_OF_CODE["M"]


class UnknownCodeError(ValueError):
    """A string that is not a register code in force (and not mapped from a historic one)."""


def code_id(code: str, historic_mapping: Mapping[str, str] | None = None) -> int:
    """The id of a register code; withdrawn codes only through an explicit mapping."""
    if code in ID_OF_CODE:
        return ID_OF_CODE[code]
    if historic_mapping and code in historic_mapping:
        target = historic_mapping[code]
        if target not in ID_OF_CODE:
            raise UnknownCodeError(f"{code!r} is mapped to {target!r}, which is not a register code")
        return ID_OF_CODE[target]
    if code in WITHDRAWN:
        raise UnknownCodeError(
            f"{code!r} was withdrawn in 2024 ({WITHDRAWN[code]}); "
            "map it explicitly with --map-code to import a historic file"
        )
    if code == UNMARKED_CODE:
        return UNMARKED_ID
    raise UnknownCodeError(f"{code!r} is not a register code")


def category_of(code: str) -> Category:
    return CODES[code].category
