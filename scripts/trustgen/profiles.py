"""Each pupil's propensities: how often absent and why, how often late, whether on holiday.

A skewed (gamma) draw plus a small severe group gives the national tails: about a fifth of
pupils persistently absent and about 2% severely. The parameters were tuned by generating the
20 x 1000 benchmark trust and reading its figures (see ``figures``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from trustgen.roster import Phase, Pupils

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PhaseShape:
    mean: float  # mean absence propensity of the non-severe pupils (holidays apart)
    severe: float  # share of pupils drawn into the severe group
    late_high: float  # share of pupils often late
    late_some: float  # share of pupils sometimes late


SHAPES = {
    Phase.PRIMARY: PhaseShape(mean=0.042, severe=0.010, late_high=0.06, late_some=0.16),
    Phase.SECONDARY: PhaseShape(mean=0.062, severe=0.032, late_high=0.09, late_some=0.20),
}
GAMMA_SHAPE = 1.3
HOLIDAY_SHARE = 0.19  # pupils taking a term-time holiday over a whole year
SCHOOL_YEAR_DAYS = 190


class Story(StrEnum):
    """Pupils planted in every school so a demo crosses each plan's thresholds."""

    LATE = "late"  # 5+ lates in a half term
    UNAUTHORISED = "unauthorised"  # 10+ unauthorised sessions in 10 school weeks, Mon/Fri
    BELOW_80 = "below_80"  # attendance well under 80%
    HOLIDAY = "holiday"  # a week's term-time holiday before the first break
    UNRESOLVED_N = "unresolved_n"  # an N never explained


@dataclass
class Profiles:
    """Per-pupil rates; ``illness + unauthorised + other`` is the pupil's absence propensity."""

    illness: FloatArray
    unauthorised: FloatArray
    other: FloatArray
    run_mean: FloatArray  # mean length in days of a run of absence
    monday_friday: BoolArray
    late: FloatArray  # chance that a morning the pupil attends starts late
    after_close: FloatArray  # share of those lates after the register closed (U)
    holiday: BoolArray
    stories: dict[Story, int] = field(default_factory=dict)


def draw_profiles(
    pupils: Pupils, phase: Phase, n_days: int, rng: np.random.Generator
) -> Profiles:
    n = len(pupils)
    shape = SHAPES[phase]
    total = np.minimum(rng.gamma(GAMMA_SHAPE, shape.mean / GAMMA_SHAPE, n), 0.45)
    severe = rng.random(n) < shape.severe
    total[severe] = rng.uniform(0.5, 0.9, int(severe.sum()))
    unauthorised_share = np.clip(0.12 + 0.7 * total + rng.normal(0, 0.08, n), 0.03, 0.9)
    other_share = np.clip(0.16 - 0.1 * total + rng.normal(0, 0.05, n), 0.05, 0.4)
    illness_share = np.maximum(1.0 - unauthorised_share - other_share, 0.05)
    norm = unauthorised_share + other_share + illness_share
    late, after_close = _lateness(n, shape, rng)
    monday_friday = rng.random(n) < 0.04 + 0.6 * np.minimum(total, 0.3)
    return Profiles(
        illness=total * illness_share / norm,
        unauthorised=total * unauthorised_share / norm,
        other=total * other_share / norm,
        # a Monday/Friday pattern is single days, not runs that carry on into the week
        run_mean=np.where(monday_friday, 1.1, 1.5 + 8.0 * total**1.5),
        monday_friday=monday_friday,
        late=late,
        after_close=after_close,
        holiday=rng.random(n) < HOLIDAY_SHARE * min(1.0, n_days / SCHOOL_YEAR_DAYS),
    )


def _lateness(n: int, shape: PhaseShape, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    draw = rng.random(n)
    late = np.where(
        draw < shape.late_high,
        rng.uniform(0.08, 0.2, n),
        np.where(draw < shape.late_high + shape.late_some, rng.uniform(0.02, 0.07, n), 0.004),
    )
    return late, rng.uniform(0.05, 0.35, n)


def plant_stories(profiles: Profiles, pupils: Pupils, rng: np.random.Generator) -> None:
    """Give a few compulsory-age pupils on roll all the range one story each."""
    candidates = np.flatnonzero(pupils.whole_range & (pupils.year >= 1))
    chosen = rng.permutation(candidates)[: len(Story)]
    for story, pupil in zip(Story, chosen, strict=False):
        profiles.stories[story] = int(pupil)
        _shape_story(profiles, story, int(pupil))


def _shape_story(p: Profiles, story: Story, i: int) -> None:
    match story:
        case Story.LATE:
            p.illness[i], p.unauthorised[i], p.other[i] = 0.015, 0.005, 0.005
            p.late[i], p.after_close[i] = 0.3, 0.3
        case Story.UNAUTHORISED:
            p.illness[i], p.unauthorised[i], p.other[i] = 0.02, 0.15, 0.01
            p.monday_friday[i], p.run_mean[i] = True, 1.2
        case Story.BELOW_80:
            p.illness[i], p.unauthorised[i], p.other[i] = 0.15, 0.13, 0.02
            p.run_mean[i] = 3.0
        case Story.HOLIDAY | Story.UNRESOLVED_N:
            p.illness[i], p.unauthorised[i], p.other[i] = 0.02, 0.01, 0.01
            p.holiday[i] = story is Story.HOLIDAY
