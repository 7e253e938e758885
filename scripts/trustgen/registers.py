"""One school's registers as code-id matrices (pupils x sessions), built in layers.

Layers, each overwriting the one before: present; approved activities (trips, sport, work
experience); single-session absences (appointments, afternoons off); runs of whole days (illness,
unexplained absence, exceptional leave) whose start rates follow the pupil's propensity and the
day's weight; festivals; term-time holidays; suspensions; lates on the sessions still present;
sessions that are not possible (#, Y1, Y2, D). Then some absences are first recorded as ``N``
and amended later, and sessions outside a pupil's time on roll are dropped (code 0: no row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from escalation_flow.core.codes import ID_OF_CODE
from trustgen.days import Days
from trustgen.profiles import Profiles, Story
from trustgen.roster import Phase, Pupils

Codes = npt.NDArray[np.int8]
Mask = npt.NDArray[np.bool_]
ID = {code: np.int8(i) for code, i in ID_OF_CODE.items()}
MAX_RUN_DAYS = 15
#: Festivals some pupils are granted a day for (R) when they fall on a school day.
FESTIVALS = (
    date(2025, 10, 2),
    date(2025, 10, 21),
    date(2026, 3, 20),
    date(2026, 10, 21),
    date(2027, 3, 10),
)


@dataclass(frozen=True)
class Registers:
    """``final`` is the code as last recorded (0: no row); ``first`` the code first recorded;
    ``lag`` the school days after the session that the amendment was recorded (0: never)."""

    final: Codes
    first: Codes
    lag: npt.NDArray[np.int8]
    minutes_late: npt.NDArray[np.int16]


def build_registers(
    pupils: Pupils, phase: Phase, days: Days, profiles: Profiles, rng: np.random.Generator
) -> Registers:
    n, n_days = len(pupils), len(days)
    code = np.empty((n, 2 * n_days), dtype=np.int8)
    code[:, 0::2], code[:, 1::2] = ID["/"], ID["\\"]
    _approved_activities(code, pupils, phase, days, rng)
    _single_sessions(code, profiles, rng)
    _day_runs(code, profiles, days, rng)
    _festivals_holidays_suspensions(code, phase, days, profiles, rng)
    minutes = _lates(code, profiles, rng)
    _not_possible(code, pupils, days, rng)
    first, lag = _first_recorded_as_n(code, profiles, rng)
    minutes[(code != ID["L"]) & (code != ID["U"])] = 0  # lates since overwritten (Y1, D, ...)
    on_roll = _on_roll(pupils, n_days)
    code[~on_roll] = 0
    first[~on_roll] = 0
    lag[~on_roll] = 0
    minutes[~on_roll] = 0
    return Registers(final=code, first=first, lag=lag, minutes_late=minutes)


def _on_roll(pupils: Pupils, n_days: int) -> Mask:
    day = np.arange(n_days)
    by_day = (day >= pupils.first[:, None]) & (day <= pupils.last[:, None])
    return np.repeat(by_day, 2, axis=1)


def _set_days(code: Codes, days_mask: Mask, value: np.int8) -> None:
    code[np.repeat(days_mask, 2, axis=1)] = value


def _approved_activities(
    code: Codes, pupils: Pupils, phase: Phase, days: Days, rng: np.random.Generator
) -> None:
    n, n_days = code.shape[0], code.shape[1] // 2
    trips = np.zeros((n, n_days), dtype=bool)
    for year in np.unique(pupils.year):
        for day in rng.integers(0, n_days, max(1, n_days // 90)):
            trips[pupils.year == year, day] = True
    _set_days(code, trips, ID["V"])
    sporty = np.less(rng.random(n), 0.05)
    fixtures = sporty[:, None] & (rng.random((n, n_days)) < 0.03)
    code[:, 1::2][fixtures] = ID["P"]
    late_june = [k for k, d in enumerate(days.dates) if d.month == 6 and d.day >= 22]
    if phase is Phase.SECONDARY and late_june:
        week = days.week == days.week[late_june[0]]
        _set_days(code, np.equal(pupils.year, 10)[:, None] & week[None, :], ID["W"])


def _single_sessions(code: Codes, p: Profiles, rng: np.random.Generator) -> None:
    """Appointments (M, mostly mornings), afternoons off (O) and going home ill (I)."""
    shape = code.shape
    # Each kind lands on about half the sessions drawn (afternoons only; appointments on the
    # half of the day drawn), and runs of whole days later cover some: draw more to compensate.
    day_share = 0.92 * p.illness + 0.65 * p.unauthorised + 0.3 * p.other
    scale = 2.0 / np.maximum(1.0 - day_share, 0.1)
    chances = np.stack([0.7 * p.other, 0.08 * p.illness, 0.35 * p.unauthorised]) * scale
    chances /= np.maximum(chances.sum(axis=0) / 0.95, 1.0)
    edges = np.cumsum(chances, axis=0)[:, :, None]
    draw = rng.random(shape)
    appointment = draw < edges[0]
    went_home_ill = (draw >= edges[0]) & (draw < edges[1])
    afternoon_off = (draw >= edges[1]) & (draw < edges[2])
    am = np.zeros(shape, dtype=bool)
    am[:, 0::2] = True
    morning = rng.random(shape) < 0.65
    code[appointment & (am == morning)] = ID["M"]
    code[went_home_ill & ~am] = ID["I"]
    code[afternoon_off & ~am] = ID["O"]


def _day_runs(code: Codes, p: Profiles, days: Days, rng: np.random.Generator) -> None:
    """Runs of whole days away: illness (I), unexplained (O) and exceptional leave (C).

    One process of runs per pupil, each run given a reason, so that a pupil's reasons share
    their days rather than overlapping and undershooting the pupil's propensity.
    """
    n, n_days = code.shape[0], code.shape[1] // 2
    monday_friday = np.where(np.isin(days.weekday, (0, 4)), 2.2, 0.2)  # mean 1 over a week
    pattern = np.where(p.monday_friday[:, None], monday_friday[None, :], 1.0)
    weights = (
        (0.92 * p.illness)[:, None] * days.illness_weight[None, :] * pattern**0.75,
        (0.65 * p.unauthorised)[:, None] * pattern,
        np.repeat((0.3 * p.other)[:, None], n_days, axis=1),
    )
    total = weights[0] + weights[1] + weights[2]
    rate = total.mean(axis=1)
    # Poisson starts with mean length L cover 1 - exp(-q L) of the days: solve for q.
    q = -np.log1p(-np.minimum(rate, 0.95)) / p.run_mean
    relative = total / np.maximum(rate, 1e-12)[:, None]
    starts = rng.random((n, n_days)) < np.minimum(q[:, None] * relative, 0.95)
    lengths = np.minimum(rng.geometric(1.0 / p.run_mean[:, None], (n, n_days)), MAX_RUN_DAYS)
    pick = rng.random((n, n_days)) * total
    reason = np.where(
        pick < weights[0], ID["I"], np.where(pick < weights[0] + weights[1], ID["O"], ID["C"])
    ).astype(np.int8)
    away = np.zeros((n, n_days), dtype=np.int8)
    for k in reversed(range(MAX_RUN_DAYS)):  # a later run's reason wins where runs overlap
        running = (starts & (lengths > k))[:, : n_days - k]
        away[:, k:] = np.where(running, reason[:, : n_days - k], away[:, k:])
    both = np.repeat(away, 2, axis=1)
    code[both != 0] = both[both != 0]


def _festivals_holidays_suspensions(
    code: Codes, phase: Phase, days: Days, p: Profiles, rng: np.random.Generator
) -> None:
    n, n_days = code.shape[0], code.shape[1] // 2
    festival_days = [days.dates.index(d) for d in FESTIVALS if d in days.dates]
    if festival_days:
        observing = np.flatnonzero(rng.random(n) < 0.04)
        chosen = rng.choice(festival_days, len(observing))
        mask = np.zeros((n, n_days), dtype=bool)
        mask[observing, chosen] = True
        _set_days(code, mask, ID["R"])
    _set_days(code, _holidays(p, days, rng), ID["G"])
    if phase is Phase.SECONDARY:
        suspended = np.flatnonzero(rng.random(n) < 0.02)
        mask = np.zeros((n, n_days), dtype=bool)
        for pupil, start, length in zip(
            suspended, rng.integers(0, n_days, len(suspended)), rng.integers(1, 4, len(suspended)),
            strict=True,
        ):
            mask[pupil, start : start + length] = True
        _set_days(code, mask, ID["E"])


def _holidays(p: Profiles, days: Days, rng: np.random.Generator) -> Mask:
    """Runs of G next to a break: the week before half term, the days after Christmas."""
    n, n_days = p.holiday.shape[0], len(days)
    mask = np.zeros((n, n_days), dtype=bool)
    before = np.flatnonzero(days.before_break)
    after = np.flatnonzero(days.after_break)
    edges = [(int(b), -1) for b in before] + [(int(a), +1) for a in after]
    if not edges:
        return mask
    takers = np.flatnonzero(p.holiday)
    lengths = rng.choice([2, 3, 5, 10], len(takers), p=[0.1, 0.2, 0.55, 0.15])
    picks = rng.integers(0, len(edges), len(takers))
    for pupil, length, pick in zip(takers, lengths, picks, strict=True):
        edge, direction = edges[pick]
        if pupil == p.stories.get(Story.HOLIDAY) and before.size:
            edge, direction, length = int(before[0]), -1, 5
        lo, hi = (edge - length + 1, edge + 1) if direction < 0 else (edge, edge + length)
        mask[pupil, max(0, lo) : min(n_days, hi)] = True
    return mask


def _lates(code: Codes, p: Profiles, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """L (before the register closed) or U (after) on sessions attended, mostly mornings."""
    shape = code.shape
    present = (code == ID["/"]) | (code == ID["\\"])
    chance = np.repeat(p.late[:, None], shape[1], axis=1)
    chance[:, 1::2] *= 0.15
    late = present & (rng.random(shape) < chance)
    after_close = late & (rng.random(shape) < p.after_close[:, None])
    code[late] = ID["L"]
    code[after_close] = ID["U"]
    minutes = np.zeros(shape, dtype=np.int16)
    before = np.minimum(rng.geometric(0.15, shape), 29)
    after = np.minimum(30 + rng.geometric(0.08, shape), 95)
    minutes[late] = before[late]
    minutes[after_close] = after[after_close]
    return minutes


def _not_possible(code: Codes, pupils: Pupils, days: Days, rng: np.random.Generator) -> None:
    """A partial closure (#), a snow day (Y2), transport failures (Y1), a dual-registered pupil."""
    n, n_days = code.shape[0], code.shape[1] // 2
    mask = np.zeros((n, n_days), dtype=bool)
    years = np.unique(pupils.year)
    closed_years = rng.choice(years, min(2, len(years)), replace=False)
    mask[np.isin(pupils.year, closed_years), int(rng.integers(0, n_days))] = True
    _set_days(code, mask, ID["#"])
    winter = np.flatnonzero(np.isin(days.month, (1, 2)))
    snow_day = int(rng.choice(winter)) if winter.size else int(rng.integers(0, n_days))
    mask[:] = False
    mask[rng.random(n) < 0.15, snow_day] = True
    _set_days(code, mask, ID["Y2"])
    stranded = rng.choice(n, min(n, 2), replace=False)
    for pupil in stranded:
        code[pupil, 2 * rng.integers(0, n_days, 2)] = ID["Y1"]
    dual = int(rng.integers(0, n))
    mask[:] = False
    mask[dual, days.weekday == 2] = True  # Wednesdays at the other school
    _set_days(code, mask, ID["D"])


def _first_recorded_as_n(
    code: Codes, p: Profiles, rng: np.random.Generator
) -> tuple[Codes, npt.NDArray[np.int8]]:
    """Absences first recorded as N, amended to I or O one to five school days later."""
    n, n_sessions = code.shape
    n_days = n_sessions // 2
    chance = np.where(code == ID["O"], 0.55, np.where(code == ID["I"], 0.3, 0.0))
    day_draw = np.repeat(rng.random((n, n_days)), 2, axis=1)
    was_n = day_draw < chance  # both sessions of an absent day share one draw
    # The reason comes in once the pupil is back, so a run's days are amended together.
    n_day = was_n[:, 0::2] | was_n[:, 1::2]
    day = np.arange(n_days)
    back = np.minimum.accumulate(np.where(n_day, n_days, day)[:, ::-1], axis=1)[:, ::-1]
    lag_day = np.clip(back - day + rng.integers(0, 2, (n, n_days)), 1, 5)
    forgotten = rng.random((n, n_days)) < 0.01
    unresolved_day = (day + lag_day >= n_days) | forgotten
    lag = np.repeat(lag_day, 2, axis=1).astype(np.int8)
    unresolved = was_n & np.repeat(unresolved_day, 2, axis=1)
    story = p.stories.get(Story.UNRESOLVED_N)
    if story is not None:
        when = 2 * max(0, n_days - 8)  # old enough to be overdue at the range's end
        code[story, when : when + 2] = ID["N"]
        unresolved[story, when : when + 2] = True
    first = np.where(was_n | unresolved, ID["N"], code).astype(np.int8)
    code[unresolved] = ID["N"]
    lag[~was_n | unresolved] = 0
    return first, lag
