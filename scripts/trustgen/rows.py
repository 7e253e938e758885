"""Register rows as CSV bytes, built column-wise with numpy rather than a Python loop per mark.

Each field is a small table of zero-padded byte strings (one per pupil, session, code, ...);
indexing the tables by the rows' values gives a fixed-width byte matrix, and dropping the zero
padding from it leaves the CSV text. Fields never contain a zero byte, a comma or a quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from escalation_flow.core.codes import CODE_OF_ID
from trustgen.days import Days
from trustgen.registers import Registers

Bytes2D = npt.NDArray[np.uint8]
MARKS_HEADER = "school,pupil,date,session,code,minutes_late,recorded_at\n"
AM_REGISTER = (8 * 60 + 55) * 60  # seconds after midnight, local time
PM_REGISTER = (13 * 60 + 12) * 60
OFFICE_HOURS = ((9 * 60 + 30) * 60, (15 * 60 + 30) * 60)  # when amendments are keyed in


def text_table(values: Sequence[str]) -> Bytes2D:
    """One row of zero-padded UTF-8 bytes per value."""
    encoded = [v.encode() for v in values]
    width = max(1, *(len(e) for e in encoded))
    return np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(values), width)


@cache
def _clock_table() -> Bytes2D:
    return text_table([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)])


@cache
def _code_table() -> Bytes2D:
    return text_table([f"{c}," for c in CODE_OF_ID])


@cache
def _minutes_table() -> Bytes2D:
    return text_table(["," if m == 0 else f"{m}," for m in range(100)])


def marks_bytes(
    school: str, pupil_ids: Sequence[str], days: Days, regs: Registers, rng: np.random.Generator
) -> tuple[bytes, int]:
    """The CSV lines (no header) of one school and how many there are.

    Rows run by pupil, then session; an amendment follows the mark it amends.
    """
    n_sessions = regs.final.shape[1]
    pupil, session = np.nonzero(regs.final)
    code = regs.first[pupil, session]
    minutes = regs.minutes_late[pupil, session]
    morning = session % 2 == 0
    clock = np.where(morning, AM_REGISTER, PM_REGISTER) + np.where(
        morning, rng.integers(0, 15 * 60, pupil.size), rng.integers(0, 8 * 60, pupil.size)
    )
    clock += 60 * minutes.astype(np.int64)  # a late mark is keyed in when the pupil arrives
    a_pupil, a_session = np.nonzero(regs.lag)
    a_day = a_session // 2 + regs.lag[a_pupil, a_session]
    a_clock = rng.integers(*OFFICE_HOURS, a_pupil.size)
    key = np.concatenate(
        [(pupil * n_sessions + session) * 2, (a_pupil * n_sessions + a_session) * 2 + 1]
    )
    order = np.argsort(key, kind="stable")
    all_pupil = np.concatenate([pupil, a_pupil])[order]
    all_session = np.concatenate([session, a_session])[order]
    all_code = np.concatenate([code, regs.final[a_pupil, a_session]])[order]
    all_minutes = np.concatenate([minutes, np.zeros(a_pupil.size, np.int16)])[order]
    recorded_day = np.concatenate([session // 2, a_day])[order]
    all_clock = np.concatenate([clock, a_clock])[order]
    dates = [d.isoformat() for d in days.dates]
    matrix = np.concatenate(
        [
            text_table([f"{school},{p}," for p in pupil_ids])[all_pupil],
            text_table([f"{d},{s}," for d in dates for s in ("AM", "PM")])[all_session],
            _code_table()[all_code],
            _minutes_table()[all_minutes],
            text_table([f"{d}T" for d in dates])[recorded_day],
            _clock_table()[all_clock],
            text_table([f"{o}\n" for o in days.utc_offset])[recorded_day],
        ],
        axis=1,
    )
    flat = matrix.ravel()
    return flat[flat != 0].tobytes(), int(order.size)
