"""The penalty-notice register's rules (national framework, from 19 August 2024).

A *notice* is a penalty notice (or a notice to improve, which the register keeps beside them so
that the flows can ask whether one came first) to one parent for one child. Its versions are only
ever added: a status change is a new version of the same notice, and ``as_known_at`` answers
"what did the register say at T" (the evening's facts read it at the evening's cut-off).

The national rules, checked when a notice is recorded (``check_record``):

- at most two penalty notices to the same parent for the same child within a rolling three
  years, across school years and both offences; a third is refused: the local authority must
  use another tool (prosecution, an education supervision order, an attendance contract);
- the same sessions cannot found a second notice to the same parent for the same child (another
  parent with parental responsibility may receive one for the same sessions);
- a notice rests on sessions marked, as known when it is recorded, as its offence needs:
  unauthorised absence on ``G``, ``N``, ``O`` or ``U``; leave in term time on ``G``;
- amounts: the first notice to a parent for a child £80 if paid within 21 days, £160 within 28;
  a second within three years £160 flat. A penalty notice dated before one already standing to
  the same parent for the child is refused: recorded, it would leave the later notice's amount
  wrong (a "first" after the fact). Staff withdraw the later one, record the earlier, and record
  the later again (a new notice, its amount computed afresh).

Where a notice may rest at all (``check_eligible``, ``check_threshold``, for both kinds, as a notice to improve is
the framework's first legal step too):

- the child is of compulsory school age on every session and on the issue day (domain.md:
  legal steps apply only to pupils of compulsory school age; an unknown date of birth cannot
  be held against the school);
- the sessions meet the national threshold: at least 10 of them within a rolling period of 10
  school weeks (weeks with at least one school session, from the school's calendar), for leave
  in term time too (domain.md states no exception for it);
- the issue day is not after today.

A *withdrawn* notice counts for nothing: domain.md counts notices issued, and a withdrawn notice
was cancelled by its issuer, so neither its number nor its sessions stand against the parent.
"Within three years" means issued less than three years (to the anniversary, which is outside)
before; a child is (school, pupil id): the register does not follow a child across schools.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from escalation_flow.core.definition import FlowDefinition, Task
from escalation_flow.core.school_age import born_words
from escalation_flow.errors import (
    BackDatedNoticeError,
    BelowThresholdError,
    IssuedInFutureError,
    NotAResponsibleParentError,
    NotOfCompulsorySchoolAgeError,
    SessionsAlreadyUsedError,
    SessionsNotAbsenceError,
    StatusChangeError,
    ThirdNoticeError,
)


class Kind(StrEnum):
    PENALTY_NOTICE = "penalty_notice"
    NOTICE_TO_IMPROVE = "notice_to_improve"


class Offence(StrEnum):
    UNAUTHORISED_ABSENCE = "unauthorised_absence"
    LEAVE_IN_TERM_TIME = "leave_in_term_time"


class Status(StrEnum):
    ISSUED = "issued"
    PAID = "paid"
    WITHDRAWN = "withdrawn"
    UNPAID = "unpaid"
    PROSECUTION = "prosecution"


#: The register codes each offence rests on (domain rule 1: never authorised absence).
OFFENCE_CODES: dict[Offence, frozenset[str]] = {
    Offence.UNAUTHORISED_ABSENCE: frozenset({"G", "N", "O", "U"}),
    Offence.LEAVE_IN_TERM_TIME: frozenset({"G"}),
}

#: Where each status may go next; a notice to improve is only ever issued or withdrawn.
NEXT_STATUS: dict[Kind, dict[Status, frozenset[Status]]] = {
    Kind.PENALTY_NOTICE: {
        Status.ISSUED: frozenset({Status.PAID, Status.UNPAID, Status.WITHDRAWN}),
        Status.UNPAID: frozenset({Status.PAID, Status.PROSECUTION, Status.WITHDRAWN}),
        Status.PAID: frozenset(),
        Status.WITHDRAWN: frozenset(),
        Status.PROSECUTION: frozenset(),
    },
    Kind.NOTICE_TO_IMPROVE: {Status.ISSUED: frozenset({Status.WITHDRAWN})},
}

MOST_IN_THREE_YEARS = 2
#: The national threshold: this many sessions within a rolling period of this many school weeks.
THRESHOLD_SESSIONS, THRESHOLD_WEEKS = 10, 10
REDUCED_DAYS, FULL_DAYS = 21, 28


@dataclass(frozen=True, order=True)
class Session:
    on: date
    half: str  # "AM" or "PM"

    def __str__(self) -> str:
        return f"{self.on.isoformat()} {self.half}"


@dataclass(frozen=True)
class Amounts:
    """What the notice asks for, in pounds: ``reduced`` if paid within 21 days of receipt
    (None: no reduction), ``full`` within 28."""

    reduced: int | None
    full: int

    def words(self) -> str:
        if self.reduced is None:
            return f"£{self.full} within {FULL_DAYS} days (a second notice: no reduction)"
        return f"£{self.reduced} within {REDUCED_DAYS} days, £{self.full} within {FULL_DAYS}"


FIRST_NOTICE = Amounts(reduced=80, full=160)
SECOND_NOTICE = Amounts(reduced=None, full=160)


@dataclass(frozen=True)
class NoticeDraft:
    """A notice as a member of staff asks to record it."""

    kind: Kind
    school: str
    pupil: str
    parent: str  # the contact id (stable across the trust's schools)
    offence: Offence
    sessions: tuple[Session, ...]
    issued_on: date


@dataclass(frozen=True)
class NoticeVersion:
    """One version of one notice in the register."""

    notice: int  # the register's number for the notice, the same in every version
    version: int
    draft: NoticeDraft
    #: each session's mark as known when the notice was recorded, in ``sessions`` order
    codes: tuple[str, ...]
    status: Status
    amounts: Amounts | None  # None: a notice to improve
    recorded_by: str
    recorded_at: datetime
    note: str = ""

    @property
    def counts(self) -> bool:
        """Whether it stands against the parent: a penalty notice not withdrawn."""
        return self.draft.kind is Kind.PENALTY_NOTICE and self.status is not Status.WITHDRAWN

    def of(self, school: str, pupil: str, parent: str | None = None) -> bool:
        d = self.draft
        return d.school == school and d.pupil == pupil and (parent is None or d.parent == parent)


def as_known_at(
    versions: Iterable[NoticeVersion], known_at: datetime | None = None
) -> list[NoticeVersion]:
    """Each notice's latest version recorded by ``known_at`` (None: every version), by number."""
    latest: dict[int, NoticeVersion] = {}
    for v in versions:
        if known_at is not None and v.recorded_at > known_at:
            continue
        held = latest.get(v.notice)
        if held is None or v.version > held.version:
            latest[v.notice] = v
    return [latest[n] for n in sorted(latest)]


def years_after(day: date, years: int) -> date:
    """The anniversary ``years`` on (29 February's falls on 1 March)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


# -- the two-in-three-years rule ------------------------------------------------------------------


def third_notice_refusal(
    notices: Iterable[NoticeVersion], school: str, pupil: str, parent: str, on: date
) -> str | None:
    """Why a penalty notice to ``parent`` for the child, issued ``on``, would break the rule of
    two in a rolling three years (None: it would not). Notices dated after ``on`` count too: a
    back-dated notice must not make three within any three years."""
    held = sorted(n.draft.issued_on for n in notices if n.counts and n.of(school, pupil, parent))
    dates = sorted([*held, on])
    for i in range(len(dates) - MOST_IN_THREE_YEARS):
        first, last = dates[i], dates[i + MOST_IN_THREE_YEARS]
        if last < years_after(first, 3):
            others = [d for d in dates[i : i + MOST_IN_THREE_YEARS + 1] if d != on] or [on]
            shown = ", ".join(d.isoformat() for d in others[:MOST_IN_THREE_YEARS])
            return (
                f"parent {parent} has had {MOST_IN_THREE_YEARS} penalty notices for pupil {pupil} "
                f"within three years (issued {shown}): a third cannot be issued; prosecution "
                "(or another tool of the local authority) is considered instead"
            )
    return None


def notices_in_three_years(
    notices: Iterable[NoticeVersion], school: str, pupil: str, parent: str, on: date
) -> list[NoticeVersion]:
    """The parent's penalty notices for the child that stand, issued within the three years up
    to and including ``on``."""
    return [
        n
        for n in notices
        if n.counts
        and n.of(school, pupil, parent)
        and n.draft.issued_on <= on < years_after(n.draft.issued_on, 3)
    ]


def amounts_for(notices: Iterable[NoticeVersion], draft: NoticeDraft) -> Amounts:
    """A first notice within three years, or a second (the register has refused a third)."""
    before = notices_in_three_years(
        notices, draft.school, draft.pupil, draft.parent, draft.issued_on
    )
    return FIRST_NOTICE if not before else SECOND_NOTICE


# -- recording and updating ----------------------------------------------------------------------


def check_record(
    draft: NoticeDraft,
    notices: Sequence[NoticeVersion],
    responsible: Collection[str],
    marks: Mapping[Session, str | None],
) -> Amounts | None:
    """The amounts of a penalty notice the rules allow (None for a notice to improve), or a
    typed ``PenaltyNoticeError`` saying why not. ``notices``: the register as known now
    (``as_known_at``); ``responsible``: the contact ids with parental responsibility for the
    pupil as known now; ``marks``: each session's mark as known now (None: no mark)."""
    if draft.parent not in responsible:
        raise NotAResponsibleParentError(
            f"contact {draft.parent} is not recorded with parental responsibility for pupil "
            f"{draft.pupil} at {draft.school} (import the contacts first; "
            "`escalation-flow contacts show`)"
        )
    _check_sessions(draft, marks)
    if draft.kind is Kind.NOTICE_TO_IMPROVE:
        return None
    _check_not_back_dated(draft, notices)
    _check_sessions_unused(draft, notices)
    refusal = third_notice_refusal(
        notices, draft.school, draft.pupil, draft.parent, draft.issued_on
    )
    if refusal is not None:
        raise ThirdNoticeError(refusal + "; nothing was recorded")
    return amounts_for(notices, draft)


def _check_sessions(draft: NoticeDraft, marks: Mapping[Session, str | None]) -> None:
    if not draft.sessions:
        raise SessionsNotAbsenceError("a notice rests on sessions: name at least one (--session)")
    late = [s for s in draft.sessions if s.on > draft.issued_on]
    if late:
        raise SessionsNotAbsenceError(
            f"session(s) {', '.join(map(str, late))} fall after the notice's issue date "
            f"{draft.issued_on.isoformat()}"
        )
    wanted = OFFENCE_CODES[draft.offence]
    wrong = [(s, marks.get(s)) for s in draft.sessions if marks.get(s) not in wanted]
    if wrong:
        shown = "; ".join(f"{s} is {_mark_words(code)}" for s, code in wrong)
        raise SessionsNotAbsenceError(
            f"{draft.offence.value.replace('_', ' ')} rests on sessions marked "
            f"{', '.join(sorted(wanted))} as known now: {shown}; nothing was recorded"
        )


def _check_not_back_dated(draft: NoticeDraft, notices: Sequence[NoticeVersion]) -> None:
    later = [
        n
        for n in notices
        if n.counts
        and n.of(draft.school, draft.pupil, draft.parent)
        and n.draft.issued_on > draft.issued_on
    ]
    if later:
        n = max(later, key=lambda v: (v.draft.issued_on, v.notice))
        raise BackDatedNoticeError(
            f"penalty notice {n.notice} to parent {draft.parent} for pupil {draft.pupil} was "
            f"issued {n.draft.issued_on.isoformat()}, after this one "
            f"({draft.issued_on.isoformat()}): recorded now, this notice would leave notice "
            f"{n.notice}'s amount wrong. Withdraw notice {n.notice} "
            f"(`escalation-flow penalty-notices update {n.notice} --status withdrawn`), record "
            "this one, then record the later one again; nothing was recorded"
        )


def check_eligible(
    draft: NoticeDraft, *, today: date, school_age: tuple[date, date], born: date | None = None
) -> None:
    """Refuse (a typed ``PenaltyNoticeError``) a notice of either kind issued after ``today``, or
    for a child outside ``school_age`` (first and last day of compulsory school age,
    inclusive, from the date of birth ``born``) on one of its sessions or its issue day."""
    if draft.issued_on > today:
        raise IssuedInFutureError(
            f"the issue date {draft.issued_on.isoformat()} is after today "
            f"({today.isoformat()}): record a notice once it has been issued; nothing was recorded"
        )
    start, end = school_age
    days = [*(s.on for s in draft.sessions), draft.issued_on]
    outside = [d for d in days if not start <= d <= end]
    if outside:
        raise NotOfCompulsorySchoolAgeError(
            f"pupil {draft.pupil} is of compulsory school age from {start.isoformat()} to "
            f"{end.isoformat()}, not on {min(outside).isoformat()} ({born_words(born, school_age)})"
            ": legal steps apply only to pupils of compulsory school age; nothing was recorded"
        )


def check_threshold(draft: NoticeDraft, school_week: Callable[[date], int]) -> None:
    """Refuse (``BelowThresholdError``) a notice of either kind whose sessions do not meet the
    national threshold. ``school_week``: the ordinal of a school day's school week (every
    session is a school day: ``check_record`` has checked their marks)."""
    if not meets_threshold(draft.sessions, school_week):
        raise BelowThresholdError(
            f"a notice rests on the national threshold: {THRESHOLD_SESSIONS} sessions of "
            f"unauthorised absence within a rolling {THRESHOLD_WEEKS} school weeks; the "
            f"{len(draft.sessions)} session(s) named do not meet it (name them all, e.g. "
            "--session 2025-09-15..2025-09-19); nothing was recorded"
        )


def meets_threshold(sessions: Iterable[Session], school_week: Callable[[date], int]) -> bool:
    """Whether some rolling period of ``THRESHOLD_WEEKS`` school weeks holds at least
    ``THRESHOLD_SESSIONS`` of the (distinct) sessions."""
    weeks = sorted(school_week(s.on) for s in set(sessions))
    return any(
        bisect.bisect_right(weeks, w + THRESHOLD_WEEKS - 1) - i >= THRESHOLD_SESSIONS
        for i, w in enumerate(weeks)
    )


def _mark_words(code: str | None) -> str:
    return "not marked" if code is None or code == "-" else f"marked {code}"


def _check_sessions_unused(draft: NoticeDraft, notices: Sequence[NoticeVersion]) -> None:
    mine = set(draft.sessions)
    for n in notices:
        if not (n.counts and n.of(draft.school, draft.pupil, draft.parent)):
            continue
        shared = sorted(mine & set(n.draft.sessions))
        if shared:
            raise SessionsAlreadyUsedError(
                f"session(s) {', '.join(map(str, shared))} already found penalty notice "
                f"{n.notice} to parent {draft.parent} for pupil {draft.pupil}: the same sessions "
                "cannot found a second notice to the same parent (another parent may receive "
                "one); nothing was recorded"
            )


def check_status_change(current: NoticeVersion, status: Status) -> None:
    """Refuse (``StatusChangeError``) a status the notice cannot move to from where it is."""
    allowed = NEXT_STATUS[current.draft.kind].get(current.status, frozenset())
    if status not in allowed:
        kind = current.draft.kind.value.replace("_", " ")
        if not allowed:
            raise StatusChangeError(
                f"{kind} {current.notice} is {current.status.value}, which is final: it cannot "
                f"become {status.value}"
            )
        may = ", ".join(sorted(allowed))
        raise StatusChangeError(
            f"{kind} {current.notice} is {current.status.value}: it may become {may}, "
            f"not {status.value}"
        )


# -- what the flows and the case page see --------------------------------------------------------


def proposes_penalty_notice(task: Task) -> bool:
    """A step whose outcomes ask for or record a penalty notice (a notice to improve is not)."""
    return "penalty_notice" in task.id or any("penalty_notice" in o for o in task.outcomes)


def proposing_tasks(flow: FlowDefinition) -> frozenset[str]:
    """The ids of the flow's tasks that propose a penalty notice, wherever they stand."""
    tasks = [t for side in flow.side for t in side.tasks]
    for stage in flow.stages:
        for state in stage.states.values():
            tasks += [*state.tasks, *(r.task for r in state.recurring)]
    return frozenset(t.id for t in tasks if proposes_penalty_notice(t))


ALLOWED_FACT = "penalty_notice_allowed_for_any_parent"
MOST_FACT = "penalty_notices_last_3_years_max"
IMPROVE_FACT = "notice_to_improve_within_12_months"

#: A pupil of whom the register knows nothing (and every pupil where no register is read: the
#: backtest) has had no notice, and nothing in the register forbids one.
NO_NOTICES: dict[str, float] = {ALLOWED_FACT: 1.0, MOST_FACT: 0.0, IMPROVE_FACT: 0.0}


@dataclass(frozen=True)
class ParentStanding:
    """Whether a penalty notice to one parent for the child may be issued on a day, and why."""

    parent: str
    name: str
    allowed: bool
    why: str
    in_three_years: int

    def line(self, child_may: bool = True) -> str:
        """``child_may``: whether a notice may be considered for the child at all
        (``core.notice_grounds``); where not, the parent's rules are only what they would say."""
        if not child_may:
            verdict = "the per-parent rules would allow one" if self.allowed else "NO penalty notice"
        else:
            verdict = "a penalty notice may be issued" if self.allowed else "NO penalty notice"
        return f"{self.name} ({self.parent}): {verdict}: {self.why}"


def standings(
    notices: Sequence[NoticeVersion],
    school: str,
    pupil: str,
    responsible: Sequence[tuple[str, str]],
    on: date,
) -> list[ParentStanding]:
    """For each (contact id, name) with parental responsibility: whether a penalty notice issued
    ``on`` is allowed (the rule ``check_record`` applies) and why."""
    out = []
    for parent, name in responsible:
        held = notices_in_three_years(notices, school, pupil, parent, on)
        refusal = third_notice_refusal(notices, school, pupil, parent, on)
        if refusal is not None:
            why = refusal
        elif not held:
            why = (
                f"no penalty notice for this child in three years: a first, {FIRST_NOTICE.words()}"
            )
        else:
            issued = ", ".join(n.draft.issued_on.isoformat() for n in held)
            why = f"one in three years (issued {issued}): a second, {SECOND_NOTICE.words()}"
        out.append(ParentStanding(parent, name, refusal is None, why, len(held)))
    return out


def pupil_facts(
    notices: Sequence[NoticeVersion],
    school: str,
    pupil: str,
    responsible: Sequence[str],
    on: date,
) -> dict[str, float]:
    """The register's facts for one pupil on day ``on``, over the contacts with parental
    responsibility. With none recorded, no notice is forbidden (the register cannot know):
    the step's page says that nobody with parental responsibility is recorded."""
    mine = [n for n in notices if n.of(school, pupil)]
    if not mine:
        return dict(NO_NOTICES)
    allowed = not responsible or any(
        third_notice_refusal(mine, school, pupil, p, on) is None for p in responsible
    )
    most = max(
        (len(notices_in_three_years(mine, school, pupil, p, on)) for p in responsible), default=0
    )
    improve = any(
        n.draft.kind is Kind.NOTICE_TO_IMPROVE
        and n.status is not Status.WITHDRAWN
        and n.draft.parent in responsible
        and n.draft.issued_on <= on < years_after(n.draft.issued_on, 1)
        for n in mine
    )
    return {ALLOWED_FACT: float(allowed), MOST_FACT: float(most), IMPROVE_FACT: float(improve)}


def school_facts(
    pupils: Sequence[str],
    school: str,
    notices: Sequence[NoticeVersion],
    responsible: Mapping[str, Sequence[str]],
    on: date,
) -> dict[str, npt.NDArray[np.float64]]:
    """``pupil_facts`` for every pupil of a school (in ``pupils`` order) on day ``on``:
    ``responsible`` maps a pupil to their contacts with parental responsibility."""
    out = {name: np.full(len(pupils), value) for name, value in NO_NOTICES.items()}
    index = {p: i for i, p in enumerate(pupils)}
    for pupil in sorted({n.draft.pupil for n in notices if n.draft.school == school}):
        i = index.get(pupil)
        if i is None:
            continue
        for name, value in pupil_facts(notices, school, pupil, responsible.get(pupil, ()), on).items():
            out[name][i] = value
    return out
