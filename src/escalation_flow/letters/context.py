"""What a letter says about one pupil, and how its figures, dates and times are written.

Pure: no templates, no files, no clock. The service builds a ``LetterContext`` from the case and
the facts it was decided on (``figures_from_facts``), and ``adapters.letter_rendering`` renders it.

Errors::

    InputError
    └── LetterError                a letter cannot be prepared
        ├── LetterContextError     the figures or dates handed in are impossible
        └── LetterTemplateError    no such template, or the template needs a field not given
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from types import MappingProxyType

from escalation_flow.errors import InputError, Problem
from escalation_flow.letters.addressing import Household

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
#: School days in an English school year: turns a rate into "days a year" a parent can picture.
SCHOOL_DAYS_PER_YEAR = 190


class LetterError(InputError):
    """A letter cannot be prepared; nothing was rendered."""


class LetterContextError(LetterError):
    """The figures or dates handed to a letter are impossible (they would mislead a parent)."""


class LetterTemplateError(LetterError):
    """No template has that name, or the template needs a field the context does not give."""


@dataclass(frozen=True)
class School:
    name: str
    address_lines: tuple[str, ...]
    phone: str
    email: str


@dataclass(frozen=True)
class Pupil:
    forename: str
    surname: str
    year_group: str
    #: Legal steps (penalty notices, notices to improve) apply only to pupils of compulsory
    #: school age; letters leave the law out for the others, and legal letters refuse to render.
    compulsory_school_age: bool = True

    @property
    def full_name(self) -> str:
        return f"{self.forename} {self.surname}"

    @property
    def year_label(self) -> str:
        """``Year 6`` for the MIS's ``6``, ``Reception`` for ``R``: how a letter names a
        year group (a bare "(6)" after a name reads as an age)."""
        return year_label(self.year_group)


def year_label(year_group: str) -> str:
    """The year group in words: ``6`` and ``Y6`` are ``Year 6``, ``R`` is ``Reception``,
    ``N`` is ``Nursery``; anything else (``Year 6``, ``Sixth Form``) as the MIS gave it."""
    text = year_group.strip()
    bare = text[1:] if text[:1] in ("Y", "y") and text[1:].isdigit() else text
    if bare.isdigit():
        return f"Year {int(bare)}"
    return {"r": "Reception", "rec": "Reception", "n": "Nursery"}.get(text.lower(), text)


@dataclass(frozen=True)
class Figures:
    """The pupil's own attendance, over ``period_from`` to ``period_to`` (both school days)."""

    attendance_pct: float
    possible_sessions: int
    absence_sessions: int
    unauthorised_sessions: int
    late_sessions_this_half_term: int
    period_from: date
    period_to: date
    #: Shown only by the letters that need them, when the service has them.
    unauthorised_sessions_last_10_school_weeks: int | None = None
    unexplained_sessions: int | None = None
    illness_sessions_this_term: int | None = None
    attendance_pct_this_term: float | None = None

    def __post_init__(self) -> None:
        problems = [Problem("letter", None, name, why) for name, why in self._impossible()]
        if problems:
            raise LetterContextError("the letter's figures are impossible", problems)

    def _impossible(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if not (math.isfinite(self.attendance_pct) and 0 <= self.attendance_pct <= 100):
            found.append(("attendance_pct", f"must be known and 0-100, got {self.attendance_pct}"))
        term_pct = self.attendance_pct_this_term
        if term_pct is not None and not (math.isfinite(term_pct) and 0 <= term_pct <= 100):
            found.append(("attendance_pct_this_term", f"must be known and 0-100, got {term_pct}"))
        for name in ("possible_sessions", "absence_sessions", "unauthorised_sessions",
                     "late_sessions_this_half_term", "unauthorised_sessions_last_10_school_weeks",
                     "unexplained_sessions", "illness_sessions_this_term"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and value < 0:
                found.append((name, "must not be negative"))
        if self.absence_sessions > self.possible_sessions:
            found.append(("absence_sessions", "more than the possible sessions"))
        if self.unauthorised_sessions > self.absence_sessions:
            found.append(("unauthorised_sessions", "more than all absence sessions"))
        if self.period_from > self.period_to:
            found.append(("period_from", "after period_to"))
        return found

    @property
    def has_unauthorised_absence(self) -> bool:
        """Unauthorised absence (G, N, O, U) in the last 10 school weeks, where the service
        gave that count, else this year: penalty wording rests on it (domain rule 6)."""
        recent = self.unauthorised_sessions_last_10_school_weeks
        return (recent if recent is not None else self.unauthorised_sessions) > 0

    @property
    def authorised_sessions(self) -> int:
        return self.absence_sessions - self.unauthorised_sessions

    @property
    def days_missed_at_this_rate(self) -> int:
        """School days a whole year at this attendance would miss, rounded to a whole day."""
        return round((100 - self.attendance_pct) * SCHOOL_DAYS_PER_YEAR / 100)


@dataclass(frozen=True)
class Meeting:
    date: date
    time: time
    place: str


@dataclass(frozen=True)
class Contact:
    name: str
    role: str


@dataclass(frozen=True)
class CaseHistory:
    """What has happened in the case before this letter, as its history records it.

    A letter states a history ("our third letter", "we have written to you before", "your
    child's attendance plan") only under ``{% if history... %}``: a case reaches a letter by
    more than one path, and a parent must never read of a letter that was not sent. ``flows
    check`` proves the rest (``states_history`` on the template's task).
    """

    #: templates of the letter tasks completed in this case (sent), in the order done
    letters_sent: tuple[str, ...] = ()
    #: ids of the tasks completed in this case, in the order done
    tasks_done: tuple[str, ...] = ()

    def sent(self, *templates: str) -> bool:
        """Every named letter was sent (no name: some letter was sent)."""
        if not templates:
            return bool(self.letters_sent)
        return all(t in self.letters_sent for t in templates)

    def done(self, *tasks: str) -> bool:
        """Some named task was completed in this case."""
        return any(t in self.tasks_done for t in tasks)

    @property
    def letters_count(self) -> int:
        return len(self.letters_sent)


#: Who issues penalty notices where the school is (the trust file's ``penalty_notices``).
PENALTY_ISSUERS = ("local_authority", "head_teacher_or_local_authority")


@dataclass(frozen=True)
class PenaltyNotices:
    """Who issues penalty notices for the school, under the local authority's code of conduct.

    Head teachers may issue them under s.444A of the Education Act 1996 where the local code
    allows; in many areas only the local authority does. Not stated (``issued_by`` None), the
    letter says what is true everywhere: the local authority, or the head teacher where the
    local code allows.
    """

    issued_by: str | None = None
    local_code: str | None = None  # the code of conduct's name or address

    def __post_init__(self) -> None:
        if self.issued_by is not None and self.issued_by not in PENALTY_ISSUERS:
            raise LetterContextError(
                f"penalty notices are issued by one of {', '.join(PENALTY_ISSUERS)}, "
                f"not {self.issued_by!r}"
            )


@dataclass(frozen=True)
class LetterContext:
    school: School
    pupil: Pupil
    figures: Figures
    stage: int
    stage_name: str
    letter_date: date
    contact: Contact
    next_review: date | None = None
    meeting: Meeting | None = None
    #: Letter-specific wording a template may use when given (``extra.get(...)``); never required.
    extra: Mapping[str, str] = field(default_factory=dict)
    #: the case's past: what a letter may say was done before it
    history: CaseHistory = field(default_factory=CaseHistory)
    penalty_notices: PenaltyNotices = field(default_factory=PenaltyNotices)
    #: who signs (the trust file's ``signatory``); None only in letters kept from before there
    #: was one, which were signed by ``contact``
    signatory: Contact | None = None
    #: the households a copy goes to, as known when the letter was prepared; empty: one copy
    #: "To the parent or carer of ...", flagged for the office to address
    addressees: tuple[Household, ...] = ()
    #: the school's letters are drafts only (trust file ``letters: draft-only``): marked DRAFT,
    #: never approved or sent
    draft: bool = False

    @property
    def copies(self) -> tuple[Household, ...]:
        """One addressee per copy printed: each household, or the one copy to address by hand."""
        return self.addressees or (Household(),)

    @property
    def needs_addressing(self) -> bool:
        """Some copy must be addressed by hand by the office before it can go in the post."""
        return any(a.needs_address for a in self.copies)

    def __post_init__(self) -> None:
        # A read-only copy: the caller's dict changing later must not change a prepared letter.
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        problems = []
        if self.next_review is not None and self.next_review < self.letter_date:
            problems.append(Problem("letter", None, "next_review", "before the letter's date"))
        if problems:
            raise LetterContextError("the letter's dates are impossible", problems)


def figures_from_facts(
    facts: Mapping[str, float], *, period_from: date, period_to: date
) -> Figures:
    """The letter's figures from a pupil's facts (``core.fact_names``) as of ``period_to``."""
    missing = [Problem("facts", None, name, "missing") for name in _FACTS_USED if name not in facts]
    missing += [
        Problem("facts", None, name, "unknown (too few possible sessions?)")
        for name in _FACTS_USED
        if name in facts and not math.isfinite(facts[name])
    ]
    if missing:
        raise LetterContextError("the facts lack what a letter shows", missing)
    return Figures(
        attendance_pct=float(facts["attendance_pct"]),
        possible_sessions=_count(facts["possible_sessions"]),
        absence_sessions=_count(facts["absence_sessions"]),
        unauthorised_sessions=_count(facts["unauthorised_absence_sessions"]),
        late_sessions_this_half_term=_count(facts["late_sessions_this_half_term"]),
        period_from=period_from,
        period_to=period_to,
        unauthorised_sessions_last_10_school_weeks=_optional_count(
            facts, "unauthorised_sessions_last_10_school_weeks"
        ),
        unexplained_sessions=_optional_count(facts, "unresolved_n_sessions"),
        illness_sessions_this_term=_optional_count(facts, "illness_sessions_this_term"),
        attendance_pct_this_term=_optional(facts, "attendance_pct_this_term"),
    )


_FACTS_USED = (
    "attendance_pct",
    "possible_sessions",
    "absence_sessions",
    "unauthorised_absence_sessions",
    "late_sessions_this_half_term",
)


def _count(value: float) -> int:
    return int(value)


def _optional(facts: Mapping[str, float], name: str) -> float | None:
    value = facts.get(name)
    return float(value) if value is not None and math.isfinite(value) else None


def _optional_count(facts: Mapping[str, float], name: str) -> int | None:
    value = _optional(facts, name)
    return None if value is None else int(value)


# -- how things are written in a letter ---------------------------------------------------------


def long_date(day: date) -> str:
    """``Monday 3 November 2025`` (no locale: letters are in English whatever the server's)."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def percent(value: float) -> str:
    """``92.4%``: cut (not rounded) to one decimal place.

    Cutting keeps the figure on the same side of every threshold as the true value: a pupil at
    89.96% is "below 90%", and the letter must not print "90.0%" next to those words. Rounding to
    nine places first stops 92.39999999 (a float's view of 92.4) printing as 92.3.
    """
    if not math.isfinite(value):
        raise LetterContextError(f"a percentage in a letter must be known, got {value}")
    exact = Decimal(value).quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN)
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_DOWN)}%"


def sessions_as_days(sessions: int) -> str:
    """Sessions as school days: ``7 school days``, ``6½ school days``, ``half a school day``."""
    whole, half = divmod(sessions, 2)
    if half and not whole:
        return "half a school day"
    number = f"{whole}½" if half else str(whole)
    return f"{number} school day" if (whole, half) == (1, 0) else f"{number} school days"


def clock_time(moment: time) -> str:
    """``9:30am``, ``12 noon``, ``3:15pm``: how a letter home writes a time."""
    if moment.hour == 12 and moment.minute == 0:
        return "12 noon"
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    return f"{hour}:{moment.minute:02d}{suffix}"


def possessive(name: str) -> str:
    """``Amira's``, ``James's`` (the plain British form)."""
    return f"{name}'s"
