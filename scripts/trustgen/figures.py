"""What the generated registers add up to: absence, persistent and severe absence, and, per
school, how many pupils cross the thresholds the plans use (so a demo shows something)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from escalation_flow.core.codes import CATEGORY_OF_ID, CODE_OF_ID, ID_OF_CODE, Category
from trustgen.days import Days
from trustgen.roster import Phase

PA_PCT, SA_PCT = 90.0, 50.0
REASONS = ("I", "O", "G", "M", "C", "R", "E", "N", "U")
THRESHOLDS = (
    "below_96",
    "below_80",
    "lates_3_half_term",
    "lates_5_half_term",
    "unresolved_n",
    "unauth_10_in_10_weeks",
    "holiday",
)


@dataclass
class PhaseTally:
    possible: int = 0
    absent: int = 0
    pupils: int = 0
    persistent: int = 0
    severe: int = 0

    def add(self, other: PhaseTally) -> None:
        for name in ("possible", "absent", "pupils", "persistent", "severe"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def lines(self, label: str) -> str:
        pct = 100.0 * self.absent / max(1, self.possible)
        pa = 100.0 * self.persistent / max(1, self.pupils)
        sa = 100.0 * self.severe / max(1, self.pupils)
        return (
            f"{label:<10} absence {pct:5.2f}%   PA {pa:5.2f}%   SA {sa:5.2f}%   "
            f"({self.pupils} pupils)"
        )


@dataclass
class Figures:
    by_phase: dict[Phase, PhaseTally] = field(
        default_factory=lambda: {p: PhaseTally() for p in Phase}
    )
    code_counts: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(CODE_OF_ID), dtype=np.int64)
    )
    marks: int = 0
    schools: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> PhaseTally:
        out = PhaseTally()
        for tally in self.by_phase.values():
            out.add(tally)
        return out

    def add_school(
        self, school: str, phase: Phase, final: npt.NDArray[np.int8], days: Days
    ) -> None:
        category = CATEGORY_OF_ID[final]
        possible = (category >= Category.PRESENT) & (category <= Category.UNAUTHORISED)
        absent = (category == Category.AUTHORISED) | (category == Category.UNAUTHORISED)
        n_possible = possible.sum(axis=1)
        n_absent = absent.sum(axis=1)
        counted = n_possible > 0
        pct = 100.0 * (n_possible - n_absent) / np.maximum(n_possible, 1)
        tally = PhaseTally(
            possible=int(n_possible.sum()),
            absent=int(n_absent.sum()),
            pupils=int(counted.sum()),
            persistent=int((counted & (pct <= PA_PCT)).sum()),
            severe=int((counted & (pct <= SA_PCT)).sum()),
        )
        self.by_phase[phase].add(tally)
        self.code_counts += np.bincount(final.ravel(), minlength=len(CODE_OF_ID))
        self.schools[school] = _thresholds(final, counted, pct, days)

    def summary(self, seconds: float) -> str:
        total = self.total
        counts = self.code_counts
        share = {c: 100.0 * counts[ID_OF_CODE[c]] / max(1, total.possible) for c in REASONS}
        lines = [
            total.lines("overall"),
            *(self.by_phase[p].lines(p.value) for p in Phase if self.by_phase[p].pupils),
            "sessions by reason (% of possible): "
            + "  ".join(f"{c} {v:.2f}" for c, v in share.items()),
        ]
        if len(self.schools) <= 10:
            lines.append("pupils over each threshold, per school:")
            lines.append(" " * 11 + " ".join(f"{t:>12.12}" for t in THRESHOLDS))
            for school, counts_by in self.schools.items():
                cells = " ".join(f"{counts_by[t]:>12d}" for t in THRESHOLDS)
                lines.append(f"{school:<11}{cells}")
        lines.append(f"marks written {self.marks:,} in {seconds:.1f} s")
        return "\n".join(lines)


def _thresholds(
    final: npt.NDArray[np.int8],
    counted: npt.NDArray[np.bool_],
    pct: npt.NDArray[np.float64],
    days: Days,
) -> dict[str, int]:
    late = (final == ID_OF_CODE["L"]) | (final == ID_OF_CODE["U"])
    unauthorised = np.isin(final, [ID_OF_CODE[c] for c in "GNOU"])
    lates = _sum_by(_per_day(late), days.half_term).max(axis=1, initial=0)
    weekly = _sum_by(_per_day(unauthorised), days.week)
    running = np.cumsum(weekly, axis=1)
    window = running - np.pad(running, ((0, 0), (10, 0)))[:, : running.shape[1]]
    return {
        "below_96": int((counted & (pct < 96)).sum()),
        "below_80": int((counted & (pct < 80)).sum()),
        "lates_3_half_term": int((lates >= 3).sum()),
        "lates_5_half_term": int((lates >= 5).sum()),
        "unresolved_n": int((final == ID_OF_CODE["N"]).any(axis=1).sum()),
        "unauth_10_in_10_weeks": int((window.max(axis=1, initial=0) >= 10).sum()),
        "holiday": int((final == ID_OF_CODE["G"]).any(axis=1).sum()),
    }


def _per_day(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    return mask[:, 0::2].astype(np.int64) + mask[:, 1::2]


def _sum_by(
    per_day: npt.NDArray[np.int64], period: npt.NDArray[np.int32]
) -> npt.NDArray[np.int64]:
    """Sums over runs of days sharing a period ordinal (periods are contiguous)."""
    starts = np.flatnonzero(np.diff(period, prepend=-1) != 0)
    return np.add.reduceat(per_day, starts, axis=1)
