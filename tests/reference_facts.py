"""Register facts the plain way: one pupil at a time, one session at a time, in Python.

The reference the vectorised ``core.facts`` is checked against (tests) and raced against
(scripts/benchmarks/facts_bench.py). It reads the domain rules straight off the page and shares
nothing with ``core.facts`` but the calendar and the code table.
"""

from __future__ import annotations

import math
from datetime import date

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID, CODES, Category

PRESENT = {Category.PRESENT, Category.APPROVED_ACTIVITY}
ABSENT = {Category.AUTHORISED, Category.UNAUTHORISED}


def reference_facts(
    codes: list[int],
    calendar: SchoolCalendar,
    day: int,
    *,
    min_possible_sessions_ytd: int,
    min_possible_sessions_window: int = 10,
    first_session: int = 0,
    last_session: int | None = None,
    school_age: tuple[date, date] = (date.min, date.max),
) -> dict[str, float]:
    """Every register fact of one pupil whose marks are ``codes`` (ids, one per session)."""
    last_on_roll = len(codes) - 1 if last_session is None else last_session

    def code(s: int) -> str | None:
        """The code of a session on roll, ``"-"`` when unmarked, None when off roll."""
        if s < first_session or s > last_on_roll:
            return None
        return CODE_OF_ID[codes[s]]

    def category(s: int) -> Category | None:
        c = code(s)
        if c is None:
            return None
        return Category.UNMARKED if c == "-" else CODES[c].category

    def sessions(first_day: int, last_day: int) -> range:
        return range(2 * first_day, 2 * last_day + 2)

    def count(first_day: int, last_day: int, test: object) -> int:
        return sum(1 for s in sessions(first_day, last_day) if test(s))  # type: ignore[operator]

    def pct(first_day: int, last_day: int, minimum: int) -> float:
        attended = count(first_day, last_day, lambda s: category(s) in PRESENT)
        possible = count(first_day, last_day, lambda s: category(s) in PRESENT | ABSENT)
        if possible == 0 or possible < minimum:
            return math.nan
        return 100.0 * attended / possible

    def is_code(*wanted: str) -> object:
        return lambda s: code(s) in wanted

    unauthorised = is_code("G", "N", "O", "U")
    late = is_code("L", "U")
    absent = lambda s: category(s) in ABSENT  # noqa: E731

    year = calendar.year_of(day).first
    term = calendar.term_of(day).first
    half = calendar.half_term_of(day).first
    weeks = {n: calendar.weeks_back_first_day(day, n) for n in (2, 4, 6, 8, 10)}

    f: dict[str, float] = {}
    f["possible_sessions"] = count(year, day, lambda s: category(s) in PRESENT | ABSENT)
    f["attended_sessions"] = count(year, day, lambda s: category(s) in PRESENT)
    f["absence_sessions"] = count(year, day, absent)
    f["authorised_absence_sessions"] = count(
        year, day, lambda s: category(s) == Category.AUTHORISED
    )
    f["unauthorised_absence_sessions"] = count(year, day, unauthorised)
    f["unmarked_sessions"] = count(year, day, lambda s: category(s) == Category.UNMARKED)
    f["attendance_pct"] = pct(year, day, min_possible_sessions_ytd)
    a = f["attendance_pct"]
    f["persistent_absence"] = math.nan if math.isnan(a) else float(a <= 90)
    f["severe_absence"] = math.nan if math.isnan(a) else float(a <= 50)
    f["attendance_pct_this_term"] = pct(term, day, min_possible_sessions_window)
    f["attendance_pct_this_half_term"] = pct(half, day, min_possible_sessions_window)
    f["late_sessions_this_half_term"] = count(half, day, late)
    f["late_before_close_sessions_this_half_term"] = count(half, day, is_code("L"))
    f["late_after_close_sessions_this_half_term"] = count(half, day, is_code("U"))
    f["unauthorised_sessions_this_half_term"] = count(half, day, unauthorised)
    f["unauthorised_sessions_this_term"] = count(term, day, unauthorised)
    f["illness_sessions_this_term"] = count(term, day, is_code("I"))
    f["medical_sessions_this_term"] = count(term, day, is_code("M"))
    f["holiday_sessions_this_year"] = count(year, day, is_code("G"))
    for n in (2, 4, 6, 10):
        f[f"attendance_pct_last_{n}_school_weeks"] = pct(
            weeks[n], day, min_possible_sessions_window
        )
    f["attendance_pct_previous_4_school_weeks"] = pct(
        weeks[8], weeks[4] - 1, min_possible_sessions_window
    )
    f["attendance_trend"] = (
        f["attendance_pct_last_4_school_weeks"] - f["attendance_pct_previous_4_school_weeks"]
    )
    f["unauthorised_sessions_last_6_school_weeks"] = count(weeks[6], day, unauthorised)
    f["unauthorised_sessions_last_10_school_weeks"] = count(weeks[10], day, unauthorised)
    f["illness_sessions_last_10_school_weeks"] = count(weeks[10], day, is_code("I"))
    f["late_sessions_last_4_school_weeks"] = count(weeks[4], day, late)
    f["late_sessions_previous_4_school_weeks"] = count(weeks[8], weeks[4] - 1, late)
    f["absent_today"] = float(count(day, day, absent) > 0)
    f["unexplained_absence_today"] = float(count(day, day, is_code("N")) > 0)
    run = 0
    while run <= day and count(day - run, day - run, unauthorised) == 2:
        run += 1
    f["consecutive_unauthorised_school_days"] = run
    n_sessions = [s for s in sessions(0, day) if code(s) == "N"]
    f["unresolved_n_sessions"] = len(n_sessions)
    f["oldest_unresolved_n_school_days"] = day - n_sessions[0] // 2 if n_sessions else 0
    f.update(_episode_facts(day, term, absent, is_code("N", "O")))
    previous = [t for t in calendar.terms_periods if t.last < term]
    days = calendar.school_days
    if previous and (days[term] - days[previous[-1].last]).days <= 120:
        before = previous[-1]
        f["attendance_pct_previous_term"] = pct(before.first, before.last, min_possible_sessions_window)
        f["unauthorised_sessions_previous_term"] = count(before.first, before.last, unauthorised)
    else:
        f["attendance_pct_previous_term"] = math.nan
        f["unauthorised_sessions_previous_term"] = math.nan
    absences = [s for s in sessions(year, day) if absent(s)]
    weekdays = [calendar.school_days[s // 2].weekday() for s in absences]
    share = (lambda k: k / len(absences)) if absences else (lambda k: math.nan)
    f["monday_absence_share"] = share(weekdays.count(0))
    f["friday_absence_share"] = share(weekdays.count(4))
    f["monday_friday_absence_share"] = share(weekdays.count(0) + weekdays.count(4))
    as_of = calendar.school_days[day]
    f["compulsory_school_age"] = float(school_age[0] <= as_of <= school_age[1])
    of_age = count(
        weeks[10],
        day,
        lambda s: unauthorised(s)  # type: ignore[operator]
        and school_age[0] <= calendar.school_days[s // 2] <= school_age[1],
    )
    f["unauthorised_sessions_of_compulsory_age_last_10_school_weeks"] = of_age
    f["penalty_notice_threshold_met"] = float(of_age >= 10 and f["compulsory_school_age"] == 1.0)
    return {k: float(v) for k, v in f.items()}


def _episode_facts(day: int, term: int, absent: object, unexplained: object) -> dict[str, float]:
    """Runs of whole days of absence, walked back day by day."""

    def whole(d: int, test: object) -> bool:
        return bool(test(2 * d)) and bool(test(2 * d + 1))  # type: ignore[operator]

    def some(d: int, test: object) -> bool:
        return bool(test(2 * d)) or bool(test(2 * d + 1))  # type: ignore[operator]

    def run_back(d: int, test: object) -> int:
        n = 0
        while d - n >= 0 and whole(d - n, test):
            n += 1
        return n

    run = run_back(day, absent)
    firsts = [d for d in range(day - run + 1, day + 1) if run and some(d, unexplained)]
    starts = [d for d in range(term, day + 1) if whole(d, absent) and (d == term or not whole(d - 1, absent))]
    return {
        "current_absence_episode_school_days": run,
        "absence_episodes_this_term": len(starts),
        "school_days_since_first_unexplained_absence_of_episode": (
            day - firsts[0] if firsts else math.nan
        ),
        "consecutive_unexplained_school_days": run_back(day, unexplained),
    }
