"""The retention policy, and what it makes due for erasure on a given day. Pure.

The law sets the floor for registers: the School Attendance (Pupil Registration) (England)
Regulations 2024 keep every entry for six years from the date of the entry, so a mark expires
six years after *its own* date (not the pupil's leaving); a trust may keep them longer, never
shorter. Closed cases (their history, tasks, timers, letters and copies) expire a number of
years after closing that the trust chooses. Open cases are never erased, and nothing of a
pupil under a hold is: a legal hold a member of staff recorded, or a penalty notice still
issued, unpaid or in prosecution (its marks are the evidence).

A pupil's roster row and contacts go once nothing of theirs remains: every mark expired and no
case kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

#: The regulations' floor: years an attendance-register entry is kept from its date.
LEGAL_MINIMUM_REGISTER_YEARS = 6
#: A suggestion only (docs/data-protection.md): years a closed case is kept after it closed.
SUGGESTED_CLOSED_CASE_YEARS = 6


@dataclass(frozen=True)
class RetentionPolicy:
    """What the trust file's ``retention:`` section says (checked when it is read)."""

    registers_years: int
    closed_cases_years: int

    def as_dict(self) -> dict[str, int]:
        return {
            "registers_years": self.registers_years,
            "closed_cases_years": self.closed_cases_years,
        }


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (29 February falls back to the 28th, keeping a leap-day
    entry a day longer rather than shorter)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def years_after(day: date, years: int) -> date:
    """The first day on which something dated ``day`` has been kept ``years`` years (a leap
    day's anniversary is 1 March)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def register_cutoff(policy: RetentionPolicy, today: date) -> date:
    """Marks dated before this day have been kept their full term on ``today``."""
    return years_before(today, policy.registers_years)


def case_cutoff(policy: RetentionPolicy, today: date) -> date:
    """Cases closed before this day have been kept their full term on ``today``."""
    return years_before(today, policy.closed_cases_years)


@dataclass(frozen=True)
class CaseDates:
    """A case as retention sees it: when it closed (None while open), and its chain's end."""

    school: str
    pupil: str
    case_id: int
    is_open: bool
    closed_on: date | None
    length: int
    head: str


@dataclass(frozen=True)
class PupilMarks:
    """A pupil's marks as retention sees them: how many are dated before the register cutoff,
    and the date of the newest (None: the pupil has no marks)."""

    school: str
    pupil: str
    expired: int
    newest: date | None


@dataclass(frozen=True)
class Hold:
    """A legal hold: a pupil's records kept past their term until it is released."""

    id: int
    school: str
    pupil: str
    reason: str
    held_by: str
    held_at: datetime
    released_by: str | None
    released_at: datetime | None


@dataclass(frozen=True)
class Kept:
    """Something expired, or that might have been, and kept: why."""

    school: str
    pupil: str
    what: str  # "case" or "marks"
    why: str


@dataclass(frozen=True)
class RetentionPlan:
    """What is due for erasure on ``today`` under ``policy``, and what is kept and why."""

    policy: RetentionPolicy
    today: date
    register_cutoff: date
    case_cutoff: date
    cases_due: list[CaseDates] = field(default_factory=list)
    marks_due: dict[tuple[str, str], int] = field(default_factory=dict)
    pupils_due: list[tuple[str, str]] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    held: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def marks_count(self) -> int:
        return sum(self.marks_due.values())

    def counts(self) -> dict[str, int]:
        return {
            "marks": self.marks_count,
            "cases": len(self.cases_due),
            "pupils": len(self.pupils_due),
            "kept": len(self.kept),
        }

    def by_school(self) -> dict[str, dict[str, int]]:
        """Per school: marks, cases and pupils due."""
        out: dict[str, dict[str, int]] = {}

        def add(school: str, name: str, n: int) -> None:
            out.setdefault(school, {"marks": 0, "cases": 0, "pupils": 0})[name] += n

        for (school, _), n in self.marks_due.items():
            add(school, "marks", n)
        for c in self.cases_due:
            add(school=c.school, name="cases", n=1)
        for school, _ in self.pupils_due:
            add(school, "pupils", 1)
        return dict(sorted(out.items()))


def plan(
    policy: RetentionPolicy,
    today: date,
    cases: Iterable[CaseDates],
    marks: Iterable[PupilMarks],
    holds: Mapping[tuple[str, str], str],
) -> RetentionPlan:
    """What ``policy`` makes due on ``today``: ``marks`` counted against ``register_cutoff``,
    ``holds`` by (school, pupil) with why."""
    out = RetentionPlan(
        policy, today, register_cutoff(policy, today), case_cutoff(policy, today),
        held=dict(holds),
    )  # fmt: skip
    case_kept: set[tuple[str, str]] = set()
    for case in sorted(cases, key=lambda c: (c.school, c.pupil)):
        why = _case_kept(case, out)
        if why is None:
            out.cases_due.append(case)
        else:
            case_kept.add((case.school, case.pupil))
            if case.closed_on is not None or case.is_open:
                out.kept.append(Kept(case.school, case.pupil, "case", why))
    for m in sorted(marks, key=lambda m: (m.school, m.pupil)):
        key = (m.school, m.pupil)
        if m.expired and key in holds:
            out.kept.append(Kept(m.school, m.pupil, "marks", f"{m.expired} marks: {holds[key]}"))
            continue
        if m.expired:
            out.marks_due[key] = m.expired
        all_gone = m.newest is not None and m.newest < out.register_cutoff
        if all_gone and key not in holds and key not in case_kept:
            out.pupils_due.append(key)
    return out


def _case_kept(case: CaseDates, plan_: RetentionPlan) -> str | None:
    """Why ``case`` is kept today, or None when it is due."""
    held = plan_.held.get((case.school, case.pupil))
    if case.is_open:
        return "open: an open case is never erased"
    if held is not None:
        return held
    if case.closed_on is None:
        return "closed without a closing date: kept until one is known"
    if case.closed_on >= plan_.case_cutoff:
        due = years_after(case.closed_on, plan_.policy.closed_cases_years)
        return f"closed on {case.closed_on.isoformat()}: kept until {due.isoformat()}"
    return None


def policy_problems(registers_years: object, closed_cases_years: object) -> dict[str, str]:
    """What is wrong with a policy as written (field name to message); empty when it is good."""
    out: dict[str, str] = {}
    if not _whole(registers_years):
        out["registers_years"] = "expected a whole number of years"
    elif int(str(registers_years)) < LEGAL_MINIMUM_REGISTER_YEARS:
        out["registers_years"] = (
            f"{registers_years} is shorter than the law allows: the School Attendance (Pupil "
            "Registration) (England) Regulations 2024 keep every register entry for "
            f"{LEGAL_MINIMUM_REGISTER_YEARS} years from its date (longer is allowed)"
        )
    if closed_cases_years is None:
        out["closed_cases_years"] = (
            "required once retention is configured: the years a closed case is kept after it "
            f"closed (suggested: {SUGGESTED_CLOSED_CASE_YEARS}; see docs/data-protection.md)"
        )
    elif not _whole(closed_cases_years) or int(str(closed_cases_years)) < 1:
        out["closed_cases_years"] = "expected a whole number of years, at least 1"
    return out


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
