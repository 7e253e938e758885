"""The catalogue of named facts: what a flow's guards may name and what the pages explain.

Two kinds:

- **Register facts** (``REGISTER_FACTS``) depend only on a pupil's marks, the calendar and the
  day: computed for every pupil of a school at once by ``core.facts``.
- **Family facts** (``FAMILY_FACTS``) depend on the pupil's siblings across the trust's
  schools and the contacts: read from the previous evening's snapshot (``core.family_facts``).
- **Case facts** (``CASE_FACTS``) depend on the pupil's case too (when the stage or state was
  entered, when a review timer was armed, what staff recorded): computed by the engine.

Percentages are *unknown* (NaN) until their denominator reaches the flow's minimum number of
possible sessions; a guard comparing an unknown is neither true nor false, and a guard that ends
unknown does not fire (see ``core.guards``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    PERCENT = "%"
    SESSIONS = "sessions"
    SCHOOL_DAYS = "school days"
    PERCENTAGE_POINTS = "percentage points"
    FLAG = "0 or 1"
    SHARE = "share of absence (0-1)"
    NUMBER = "number"


@dataclass(frozen=True)
class FactSpec:
    name: str
    unit: Unit
    description: str


#: The facts of a firing review timer's window: known only while that timer fires (unknown to
#: any other stimulus, the evening's included)
REVIEW_FACTS = frozenset({"attendance_pct_at_review_start", "attendance_pct_over_review"})


def _f(name: str, unit: Unit, description: str) -> FactSpec:
    return FactSpec(name, unit, description)


_P, _S, _D, _PP, _F, _SH, _N = (
    Unit.PERCENT,
    Unit.SESSIONS,
    Unit.SCHOOL_DAYS,
    Unit.PERCENTAGE_POINTS,
    Unit.FLAG,
    Unit.SHARE,
    Unit.NUMBER,
)

REGISTER_FACTS: dict[str, FactSpec] = {
    f.name: f
    for f in (
        # -- year to date (from the first school day of the academic year, or admission) --
        _f("possible_sessions", _S, "possible sessions this academic year to the as-of day"),
        _f("attended_sessions", _S, "sessions present (/, \\, L) or at approved activity (K V P W B)"),
        _f("absence_sessions", _S, "sessions of authorised or unauthorised absence this year"),
        _f("authorised_absence_sessions", _S, "sessions of authorised absence this year"),
        _f("unauthorised_absence_sessions", _S, "sessions of unauthorised absence (G N O U) this year"),
        _f("unmarked_sessions", _S, "sessions with no mark yet ('-'): a data problem, not absence"),
        _f("attendance_pct", _P, "attendance this academic year to date"),
        _f("persistent_absence", _F, "1 when attendance this year is 90% or less"),
        _f("severe_absence", _F, "1 when attendance this year is 50% or less"),
        # -- this term and this half term --
        _f("attendance_pct_this_term", _P, "attendance in the term that holds the as-of day"),
        _f("attendance_pct_this_half_term", _P, "attendance in the half term that holds the as-of day"),
        _f("late_sessions_this_half_term", _S, "sessions marked L or U in the half term of the as-of day"),
        _f("late_before_close_sessions_this_half_term", _S, "sessions marked L in the half term"),
        _f("late_after_close_sessions_this_half_term", _S, "sessions marked U in the half term"),
        _f("unauthorised_sessions_this_half_term", _S, "sessions marked G, N, O or U this half term"),
        _f("unauthorised_sessions_this_term", _S, "sessions marked G, N, O or U this term"),
        _f("illness_sessions_this_term", _S, "sessions marked I (illness) this term"),
        _f("medical_sessions_this_term", _S, "sessions marked M (medical or dental) this term"),
        _f("holiday_sessions_this_year", _S, "sessions marked G (holiday not granted) this year"),
        # -- the term before the as-of day's (across the summer where the calendars loaded hold
        #    the year before; unknown when they hold no previous term) --
        _f("attendance_pct_previous_term", _P, "attendance over the whole of the previous term (unknown when the calendars loaded have no previous term)"),
        _f("unauthorised_sessions_previous_term", _S, "sessions marked G, N, O or U in the previous term (unknown when there is none)"),
        # -- rolling windows of school weeks (ending with the as-of day's week; span terms and years) --
        _f("attendance_pct_last_2_school_weeks", _P, "attendance over the last 2 school weeks"),
        _f("attendance_pct_last_4_school_weeks", _P, "attendance over the last 4 school weeks"),
        _f("attendance_pct_last_6_school_weeks", _P, "attendance over the last 6 school weeks"),
        _f("attendance_pct_last_10_school_weeks", _P, "attendance over the last 10 school weeks"),
        _f("attendance_pct_previous_4_school_weeks", _P, "attendance over the 4 school weeks before the last 4"),
        _f("attendance_trend", _PP, "last 4 school weeks' attendance minus the 4 before (negative: declining)"),
        _f("unauthorised_sessions_last_6_school_weeks", _S, "sessions marked G, N, O or U in the last 6 school weeks"),
        _f("unauthorised_sessions_last_10_school_weeks", _S, "sessions marked G, N, O or U in the last 10 school weeks (the penalty-notice threshold counts these)"),
        _f("illness_sessions_last_10_school_weeks", _S, "sessions marked I in the last 10 school weeks"),
        _f("late_sessions_last_4_school_weeks", _S, "sessions marked L or U in the last 4 school weeks"),
        _f("late_sessions_previous_4_school_weeks", _S, "sessions marked L or U in the 4 school weeks before those"),
        # -- the as-of day itself and patterns --
        _f("absent_today", _F, "1 when either session of the as-of day is an absence"),
        _f("unexplained_absence_today", _F, "1 when either session of the as-of day is marked N"),
        _f("consecutive_unauthorised_school_days", _D, "school days in a row, ending the as-of day, with an unauthorised absence every session"),
        # -- episodes: runs of school days absent both sessions (core.episodes) --
        _f("current_absence_episode_school_days", _D, "school days in a row, ending the as-of day, absent both sessions (0: not absent that day)"),
        _f("absence_episodes_this_term", _N, "separate runs of whole days of absence with a day in this term through the as-of day (a run begun before the term counts once)"),
        _f("school_days_since_first_unexplained_absence_of_episode", _D, "school days since the first day with an N or O session of the episode holding the as-of day (0: today; unknown: no such episode)"),
        _f("consecutive_unexplained_school_days", _D, "school days in a row, ending the as-of day, marked N or O both sessions (never G or U)"),
        _f("unresolved_n_sessions", _S, "sessions still marked N (no reason yet) as known at the time asked"),
        _f("oldest_unresolved_n_school_days", _D, "how many school days old the oldest session still marked N is (0 if none)"),
        _f("monday_absence_share", _SH, "share of this year's absence sessions that fell on a Monday"),
        _f("friday_absence_share", _SH, "share of this year's absence sessions that fell on a Friday"),
        _f("monday_friday_absence_share", _SH, "share of this year's absence sessions on Mondays or Fridays"),
        # -- the year's end (core.projection states the method) --
        _f("projected_year_end_attendance_pct", _P, "attendance projected to the end of the academic year: the year so far, with the remaining school days at the last 4 school weeks' rate"),
        _f("at_risk_of_persistent_absence", _F, "1 when not persistently absent now but projected to end the year at 90% or less"),
        # -- the pupil --
        _f("compulsory_school_age", _F, "1 when the pupil is of compulsory school age (unknown date of birth: 1)"),
        _f("unauthorised_sessions_of_compulsory_age_last_10_school_weeks", _S, "sessions marked G, N, O or U in the last 10 school weeks on days the pupil was of compulsory school age: the sessions that can found a legal step (domain: legal steps apply only to pupils of compulsory school age)"),
        _f("penalty_notice_threshold_met", _F, "1 when the pupil is of compulsory school age and has 10 or more sessions of unauthorised absence of compulsory age in the last 10 school weeks (the national penalty-notice threshold)"),
    )
}

CASE_FACTS: dict[str, FactSpec] = {
    f.name: f
    for f in (
        _f("stage", _N, "the case's current stage number as the plan numbers it (0: no open case)"),
        _f("school_days_in_stage", _D, "school days since the case entered its current stage"),
        _f("school_days_in_state", _D, "school days since the case entered its current state"),
        _f("attendance_pct_at_stage_entry", _P, "attendance year to date on the day the stage was entered"),
        _f("attendance_pct_since_stage_entry", _P, "attendance over the sessions since the stage was entered"),
        _f("attendance_pct_at_state_entry", _P, "attendance year to date on the day the state was entered"),
        _f("attendance_pct_since_state_entry", _P, "attendance over the sessions since the state was entered"),
        _f("attendance_pct_at_review_start", _P, "attendance year to date when the firing review timer was armed"),
        _f("attendance_pct_over_review", _P, "attendance over the sessions since the firing review timer was armed"),
        _f("unauthorised_sessions_since_state_entry", _S, "sessions marked G, N, O or U since the state was entered"),
        _f("late_sessions_since_state_entry", _S, "sessions marked L or U since the state was entered"),
        _f("absence_sessions_since_state_entry", _S, "sessions of absence since the state was entered"),
        _f("unauthorised_sessions_since_stage_entry", _S, "sessions marked G, N, O or U since the stage was entered"),
        _f("late_sessions_since_stage_entry", _S, "sessions marked L or U since the stage was entered"),
        _f("absence_sessions_since_stage_entry", _S, "sessions of absence since the stage was entered"),
        _f("unauthorised_sessions_since_case_opened", _S, "sessions marked G, N, O or U from the day the case opened (its marks opened it) through the as-of day"),
        _f("late_sessions_since_case_opened", _S, "sessions marked L or U from the day the case opened"),
        _f("absence_sessions_since_case_opened", _S, "sessions of absence from the day the case opened"),
        _f("unresolved_n_sessions_at_state_entry", _S, "sessions marked N when the state was entered"),
    )
}

#: Facts about the pupil's family across the trust's schools (``core.family_facts``): read from
#: the previous evening's snapshot of every school, so each school's evening stays independent.
FAMILY_FACTS: dict[str, FactSpec] = {
    f.name: f
    for f in (
        _f("siblings_with_open_cases", _N, "(family) the pupil's siblings at any school of the trust whose case was open at the end of their school's previous evening (unknown without contacts)"),
        _f("family_unauthorised_sessions_last_10_school_weeks", _S, "(family) unauthorised_sessions_last_10_school_weeks summed over the pupil and their siblings, each as of their school's previous evening (unknown without contacts)"),
        _f("has_social_worker", _F, "(family) 1 when the contacts name a social worker for the pupil, as known at the start of the day (unknown without contacts)"),
    )
}

#: Facts from the penalty-notice register (``core.penalty_notices``), per pupil over the pupil's
#: contacts with parental responsibility, both as known at the evening's cut-off. Where no
#: register is read (the backtest) a pupil has had no notice and none is forbidden.
NOTICE_FACTS: dict[str, FactSpec] = {
    f.name: f
    for f in (
        _f("penalty_notice_allowed_for_any_parent", _F, "(register) 1 when a penalty notice issued that day to at least one parent with parental responsibility would be allowed (at most two to a parent for a child in a rolling three years); 1 when none is recorded"),
        _f("penalty_notices_last_3_years_max", _N, "(register) the most penalty notices (not withdrawn) any one parent with parental responsibility has had for this child in the last three years"),
        _f("notice_to_improve_within_12_months", _F, "(register) 1 when a notice to improve (not withdrawn) to a parent with parental responsibility for this child was issued in the last 12 months"),
    )
}

ALL_FACTS: dict[str, FactSpec] = {**REGISTER_FACTS, **CASE_FACTS, **FAMILY_FACTS, **NOTICE_FACTS}

#: Families of names a guard builds from a number, a parameter or an id of the flow
#: (``core.window_facts``, ``core.since_recorded``): listed by ``flows facts``, not computed
#: until a guard names one.
FACT_FAMILIES: dict[str, FactSpec] = {
    f.name: f
    for f in (
        _f("unauthorised_sessions_last_<N>_school_weeks", _S, "sessions marked G, N, O or U in the last N school weeks; N a whole number 1-39 or a parameter's name"),
        _f("absence_sessions_last_<N>_school_weeks", _S, "sessions of absence in the last N school weeks (N as above)"),
        _f("attendance_pct_last_<N>_school_weeks", _P, "attendance over the last N school weeks (N as above; unknown below 10 possible sessions)"),
        _f("unauthorised_sessions_last_<N>_school_days", _S, "sessions marked G, N, O or U in the last N school days ending the as-of day; N 1-195 or a parameter's name"),
        _f("absence_sessions_last_<N>_school_days", _S, "sessions of absence in the last N school days (>= 1: any absence)"),
        _f("attendance_pct_last_<N>_school_days", _P, "attendance over the last N school days (unknown below min(10, 2N) possible sessions)"),
        _f("unauthorised_sessions_since_<id>", _S, "(case) sessions marked G, N, O or U after the day the event or task <id> was last recorded in the case (unknown before it is)"),
        _f("absence_sessions_since_<id>", _S, "(case) sessions of absence after the day <id> was last recorded (unknown before)"),
        _f("late_sessions_since_<id>", _S, "(case) sessions marked L or U after the day <id> was last recorded (unknown before)"),
    )
}


_FAMILY_UNITS = (
    ("attendance_pct_last_", Unit.PERCENT),
    ("unauthorised_sessions_", Unit.SESSIONS),
    ("absence_sessions_", Unit.SESSIONS),
    ("late_sessions_", Unit.SESSIONS),
)


def fact_spec(name: str) -> FactSpec | None:
    """The catalogue's entry for ``name``, or one made for a family member (a window of N school
    weeks or days, a counter since an event or task) so that pages show its unit; None else."""
    spec = ALL_FACTS.get(name)
    if spec is not None:
        return spec
    for prefix, unit in _FAMILY_UNITS:
        if name.startswith(prefix) and ("_last_" in name or "_since_" in name):
            return FactSpec(name, unit, name.replace("_", " "))
    return None
