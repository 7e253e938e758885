"""Whether a penalty notice may be considered for a child at all (issue 16), before any parent.

The national framework puts two conditions on the child, and the bundled flows hold the penalty
route to both (``penalty_notice_threshold_met``; ``flows check``'s ``penalty_needs_threshold``):

- the child is of compulsory school age on the day asked about (from the date of birth:
  ``core.school_age``);
- the national threshold is met: 10 sessions of unauthorised absence (G, N, O, U) within a
  rolling 10 school weeks, counting only sessions on which the child was of compulsory school
  age (the fact ``unauthorised_sessions_of_compulsory_age_last_10_school_weeks``).

Only then do the per-parent rules (two in three years, ``core.penalty_notices.standings``)
decide to whom. The register's fact ``penalty_notice_allowed_for_any_parent`` keeps to the
per-parent rules alone: every bundled flow conjoins it with the threshold, and ``flows check``
refuses a penalty step that does not, so folding the child's conditions into it would change
no flow's answer and would make one fact say two things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from escalation_flow.core.penalty_notices import THRESHOLD_SESSIONS, THRESHOLD_WEEKS
from escalation_flow.core.school_age import born_words

#: The fact the flows count the threshold on (``core.facts``).
OF_AGE_COUNT = "unauthorised_sessions_of_compulsory_age_last_10_school_weeks"


@dataclass(frozen=True)
class ChildGrounds:
    """The child's side of a penalty notice issued ``on``, from the register as known now."""

    pupil: str
    on: date
    born: date | None
    school_age: tuple[date, date]
    #: sessions of unauthorised absence of compulsory school age in the 10 school weeks to ``on``
    sessions: int

    @property
    def of_age(self) -> bool:
        start, end = self.school_age
        return start <= self.on <= end

    @property
    def threshold_met(self) -> bool:
        return self.sessions >= THRESHOLD_SESSIONS

    @property
    def may_consider(self) -> bool:
        return self.of_age and self.threshold_met

    def reasons(self) -> list[str]:
        """Each condition, met or not, in words."""
        age = "" if self.of_age else "NOT "
        plural = "s" if self.sessions != 1 else ""
        met = "meets" if self.threshold_met else "does NOT meet"
        return [
            f"{age}of compulsory school age on {self.on.isoformat()} "
            f"({born_words(self.born, self.school_age)})",
            f"{self.sessions} session{plural} of unauthorised absence (G, N, O, U) of compulsory "
            f"school age in the {THRESHOLD_WEEKS} school weeks to {self.on.isoformat()}: "
            f"{met} the national threshold of {THRESHOLD_SESSIONS}",
        ]

    def verdict(self) -> str:
        if self.may_consider:
            return f"a penalty notice may be considered for pupil {self.pupil}"
        return (
            f"NO penalty notice may be considered for pupil {self.pupil}: the parents' standing "
            "below would matter only if it could"
        )
