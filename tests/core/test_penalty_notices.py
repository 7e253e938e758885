"""The penalty-notice register's rules: two in a rolling three years per parent and child,
sessions that found one notice per parent, the marks a notice rests on, the amounts, and the
facts the flows read agreeing with what ``check_record`` accepts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation_flow.core.penalty_notices import (
    ALLOWED_FACT,
    FIRST_NOTICE,
    IMPROVE_FACT,
    MOST_FACT,
    NO_NOTICES,
    SECOND_NOTICE,
    Kind,
    NoticeDraft,
    NoticeVersion,
    Offence,
    Session,
    Status,
    as_known_at,
    check_eligible,
    check_record,
    check_status_change,
    check_threshold,
    meets_threshold,
    pupil_facts,
    school_facts,
    standings,
)
from escalation_flow.errors import (
    BackDatedNoticeError,
    BelowThresholdError,
    IssuedInFutureError,
    NotAResponsibleParentError,
    NotOfCompulsorySchoolAgeError,
    PenaltyNoticeError,
    SessionsAlreadyUsedError,
    SessionsNotAbsenceError,
    StatusChangeError,
    ThirdNoticeError,
)

SCHOOL, PUPIL = "school-01", "P1"
MUM, DAD = "C-1", "C-2"
BOTH = {MUM, DAD}
AT = datetime(2025, 1, 1, tzinfo=UTC)


def sessions(*days: date) -> tuple[Session, ...]:
    return tuple(Session(d, h) for d in days for h in ("AM", "PM"))


def draft(
    parent: str,
    issued: date,
    on: tuple[Session, ...],
    *,
    offence: Offence = Offence.UNAUTHORISED_ABSENCE,
    kind: Kind = Kind.PENALTY_NOTICE,
) -> NoticeDraft:
    return NoticeDraft(kind, SCHOOL, PUPIL, parent, offence, on, issued)


def marked(code: str, on: tuple[Session, ...]) -> dict[Session, str | None]:
    return dict.fromkeys(on, code)


class Register:
    """Notices recorded one after another through ``check_record``, as the service does."""

    def __init__(self) -> None:
        self.notices: list[NoticeVersion] = []

    def record(self, d: NoticeDraft, code: str = "O", responsible: set[str] = BOTH) -> NoticeVersion:
        amounts = check_record(d, self.notices, responsible, marked(code, d.sessions))
        v = NoticeVersion(
            len(self.notices) + 1, 1, d, tuple(code for _ in d.sessions), Status.ISSUED, amounts,
            "s.jones", AT,
        )  # fmt: skip
        self.notices.append(v)
        return v

    def withdraw(self, v: NoticeVersion) -> None:
        check_status_change(v, Status.WITHDRAWN)
        self.notices[self.notices.index(v)] = replace(v, version=2, status=Status.WITHDRAWN)


# -- two in a rolling three years ------------------------------------------------------------


def test_a_third_notice_within_three_years_is_refused_across_school_years_and_offences() -> None:
    reg = Register()
    first = reg.record(
        draft(MUM, date(2024, 7, 10), sessions(date(2024, 7, 8)), offence=Offence.LEAVE_IN_TERM_TIME),
        code="G",
    )
    second = reg.record(draft(MUM, date(2025, 3, 3), sessions(date(2025, 3, 3))))
    assert (first.amounts, second.amounts) == (FIRST_NOTICE, SECOND_NOTICE)
    with pytest.raises(ThirdNoticeError, match=r"prosecution .* is considered instead"):
        reg.record(draft(MUM, date(2027, 7, 9), sessions(date(2027, 7, 9))))
    # the first's third anniversary is outside the three years: one notice within them
    third = reg.record(draft(MUM, date(2027, 7, 10), sessions(date(2027, 7, 9))))
    assert third.amounts == SECOND_NOTICE
    # the other parent's record is their own
    assert reg.record(draft(DAD, date(2025, 3, 4), sessions(date(2025, 3, 3)))).amounts == FIRST_NOTICE


def test_a_back_dated_notice_that_would_make_three_within_three_years_is_refused() -> None:
    reg = Register()
    reg.record(draft(MUM, date(2024, 1, 10), sessions(date(2024, 1, 9))))
    reg.record(draft(MUM, date(2026, 12, 1), sessions(date(2026, 11, 30))))
    with pytest.raises(BackDatedNoticeError, match="issued 2026-12-01, after this one"):
        reg.record(draft(MUM, date(2025, 6, 1), sessions(date(2025, 5, 30))))


def test_a_notice_dated_before_a_standing_one_is_refused_so_no_amount_is_left_wrong() -> None:
    reg = Register()
    later = reg.record(draft(MUM, date(2025, 10, 1), sessions(date(2025, 9, 29))))
    assert later.amounts == FIRST_NOTICE
    with pytest.raises(BackDatedNoticeError, match=r"Withdraw notice 1 \(`escalation-flow"):
        reg.record(draft(MUM, date(2025, 9, 20), sessions(date(2025, 9, 15))))
    assert reg.record(draft(DAD, date(2025, 9, 20), sessions(date(2025, 9, 15)))).amounts == FIRST_NOTICE
    # the way out: the later withdrawn, the earlier is a first and the later, again, a second
    reg.withdraw(later)
    assert reg.record(draft(MUM, date(2025, 9, 20), sessions(date(2025, 9, 15)))).amounts == FIRST_NOTICE
    assert reg.record(draft(MUM, date(2025, 10, 1), sessions(date(2025, 9, 29)))).amounts == SECOND_NOTICE
    # the same day is not before; a notice to improve has no amount to spoil
    assert reg.record(draft(DAD, date(2025, 9, 20), sessions(date(2025, 9, 16)))).amounts == SECOND_NOTICE
    d = draft(DAD, date(2025, 9, 1), sessions(date(2025, 8, 29)), kind=Kind.NOTICE_TO_IMPROVE)
    assert reg.record(d).amounts is None


def test_a_withdrawn_notice_counts_for_nothing_and_frees_its_sessions() -> None:
    reg = Register()
    days = sessions(date(2025, 3, 3))
    first = reg.record(draft(MUM, date(2025, 3, 10), days))
    reg.record(draft(MUM, date(2025, 5, 10), sessions(date(2025, 5, 9))))
    reg.withdraw(first)
    again = reg.record(draft(MUM, date(2025, 6, 10), days))
    assert again.amounts == SECOND_NOTICE


def test_amounts_are_80_within_21_days_or_160_within_28_for_a_first_and_160_flat_for_a_second() -> None:
    assert (FIRST_NOTICE.reduced, FIRST_NOTICE.full) == (80, 160)
    assert (SECOND_NOTICE.reduced, SECOND_NOTICE.full) == (None, 160)
    assert FIRST_NOTICE.words() == "£80 within 21 days, £160 within 28"


# -- the sessions a notice rests on ----------------------------------------------------------


def test_the_same_sessions_cannot_found_a_second_notice_to_the_same_parent_but_may_to_the_other() -> None:
    reg = Register()
    days = sessions(date(2025, 3, 3), date(2025, 3, 4))
    reg.record(draft(MUM, date(2025, 3, 10), days))
    with pytest.raises(SessionsAlreadyUsedError, match="2025-03-04 AM"):
        reg.record(draft(MUM, date(2025, 4, 10), days[2:]))
    assert reg.record(draft(DAD, date(2025, 3, 10), days)).amounts == FIRST_NOTICE


@pytest.mark.parametrize(
    ("offence", "code", "refused"),
    [
        (Offence.UNAUTHORISED_ABSENCE, "O", False),
        (Offence.UNAUTHORISED_ABSENCE, "G", False),
        (Offence.UNAUTHORISED_ABSENCE, "I", True),  # illness is never grounds (domain rule 1)
        (Offence.UNAUTHORISED_ABSENCE, "/", True),
        (Offence.UNAUTHORISED_ABSENCE, "-", True),
        (Offence.LEAVE_IN_TERM_TIME, "G", False),
        (Offence.LEAVE_IN_TERM_TIME, "O", True),
    ],
)
def test_a_notice_rests_only_on_sessions_marked_as_its_offence_needs(
    offence: Offence, code: str, refused: bool
) -> None:
    d = draft(MUM, date(2025, 3, 10), sessions(date(2025, 3, 3)), offence=offence)
    if refused:
        with pytest.raises(SessionsNotAbsenceError, match="nothing was recorded"):
            check_record(d, [], BOTH, marked(code, d.sessions))
    else:
        assert check_record(d, [], BOTH, marked(code, d.sessions)) == FIRST_NOTICE


def test_sessions_after_the_issue_date_or_none_at_all_are_refused() -> None:
    with pytest.raises(SessionsNotAbsenceError, match="after the notice's issue date"):
        check_record(draft(MUM, date(2025, 3, 1), sessions(date(2025, 3, 3))), [], BOTH, {})
    with pytest.raises(SessionsNotAbsenceError, match="at least one"):
        check_record(draft(MUM, date(2025, 3, 1), ()), [], BOTH, {})


def test_a_notice_goes_only_to_a_contact_with_parental_responsibility() -> None:
    d = draft("C-9", date(2025, 3, 10), sessions(date(2025, 3, 3)))
    with pytest.raises(NotAResponsibleParentError, match="C-9"):
        check_record(d, [], BOTH, marked("O", d.sessions))


def test_every_refusal_is_a_penalty_notice_error_an_input_error_exiting_2() -> None:
    with pytest.raises(PenaltyNoticeError) as caught:
        check_record(draft("C-9", date(2025, 3, 10), ()), [], BOTH, {})
    assert caught.value.exit_code == 2


# -- status ------------------------------------------------------------------------------------


def test_a_paid_or_withdrawn_notice_is_final_and_an_unpaid_one_may_go_to_prosecution() -> None:
    reg = Register()
    v = reg.record(draft(MUM, date(2025, 3, 10), sessions(date(2025, 3, 3))))
    check_status_change(v, Status.UNPAID)
    check_status_change(replace(v, status=Status.UNPAID), Status.PROSECUTION)
    with pytest.raises(StatusChangeError, match="final"):
        check_status_change(replace(v, status=Status.PAID), Status.WITHDRAWN)
    with pytest.raises(StatusChangeError, match="may become paid, unpaid, withdrawn"):
        check_status_change(v, Status.PROSECUTION)


def test_the_register_as_known_at_a_time_is_each_notices_latest_version_by_then() -> None:
    reg = Register()
    v = reg.record(draft(MUM, date(2025, 3, 10), sessions(date(2025, 3, 3))))
    later = replace(v, version=2, status=Status.PAID, recorded_at=AT + timedelta(days=5))
    assert as_known_at([v, later], AT + timedelta(days=1)) == [v]
    assert as_known_at([later, v]) == [later]


# -- the facts ---------------------------------------------------------------------------------


def test_the_facts_over_separated_parents_say_what_each_may_still_receive() -> None:
    reg = Register()
    reg.record(draft(MUM, date(2025, 3, 10), sessions(date(2025, 3, 3))))
    reg.record(draft(MUM, date(2025, 5, 10), sessions(date(2025, 5, 9))))
    on = date(2025, 6, 1)
    both = pupil_facts(reg.notices, SCHOOL, PUPIL, [MUM, DAD], on)
    assert both == {ALLOWED_FACT: 1.0, MOST_FACT: 2.0, IMPROVE_FACT: 0.0}
    mum_only = pupil_facts(reg.notices, SCHOOL, PUPIL, [MUM], on)
    assert mum_only[ALLOWED_FACT] == 0.0
    lines = [s.line() for s in standings(reg.notices, SCHOOL, PUPIL, [(MUM, "Amy"), (DAD, "Adam")], on)]
    assert lines[0].startswith("Amy (C-1): NO penalty notice: parent C-1 has had 2")
    assert lines[1].startswith("Adam (C-2): a penalty notice may be issued: no penalty notice")


def test_a_notice_to_improve_counts_for_twelve_months_and_never_towards_the_two() -> None:
    reg = Register()
    reg.record(draft(MUM, date(2025, 3, 10), sessions(date(2025, 3, 3)), kind=Kind.NOTICE_TO_IMPROVE))
    assert pupil_facts(reg.notices, SCHOOL, PUPIL, [MUM], date(2026, 3, 9))[IMPROVE_FACT] == 1.0
    assert pupil_facts(reg.notices, SCHOOL, PUPIL, [MUM], date(2026, 3, 10))[IMPROVE_FACT] == 0.0
    assert pupil_facts(reg.notices, SCHOOL, PUPIL, [MUM], date(2025, 3, 10))[MOST_FACT] == 0.0


def test_pupils_without_notices_and_schools_without_a_register_have_no_notice_and_none_forbidden() -> None:
    reg = Register()
    reg.record(draft(MUM, date(2025, 3, 10), sessions(date(2025, 3, 3))))
    reg.record(draft(MUM, date(2025, 5, 10), sessions(date(2025, 5, 9))))
    facts = school_facts(("P0", PUPIL), SCHOOL, reg.notices, {PUPIL: (MUM,)}, date(2025, 6, 1))
    assert [facts[ALLOWED_FACT][0], facts[MOST_FACT][0]] == [NO_NOTICES[ALLOWED_FACT], 0.0]
    assert [facts[ALLOWED_FACT][1], facts[MOST_FACT][1]] == [0.0, 2.0]


# -- where a notice may rest at all: age, the threshold, today --------------------------------

AGE = (date(2021, 9, 1), date(2032, 6, 25))  # born in the spring of 2016


def iso_week(d: date) -> int:
    """A calendar where every week holds school sessions: its school weeks are ISO weeks."""
    return d.toordinal() // 7


def test_a_notice_of_either_kind_for_a_child_not_of_compulsory_school_age_is_refused() -> None:
    for kind in Kind:
        early = draft(MUM, date(2021, 9, 10), sessions(date(2021, 8, 31)), kind=kind)
        with pytest.raises(NotOfCompulsorySchoolAgeError, match="not on 2021-08-31"):
            check_eligible(early, today=date(2021, 9, 10), school_age=AGE)
        late = draft(MUM, date(2032, 7, 1), sessions(date(2032, 6, 21)), kind=kind)
        with pytest.raises(NotOfCompulsorySchoolAgeError, match="not on 2032-07-01"):
            check_eligible(late, today=date(2032, 7, 1), school_age=AGE)
        within = draft(MUM, date(2032, 6, 25), sessions(date(2021, 9, 1)), kind=kind)
        check_eligible(within, today=date(2032, 6, 25), school_age=AGE)
    unknown_birth = (date.min, date.max)
    check_eligible(early, today=date(2021, 9, 10), school_age=unknown_birth)


def test_a_notice_issued_after_today_is_refused() -> None:
    d = draft(MUM, date(2025, 10, 11), sessions(date(2025, 10, 6)))
    with pytest.raises(IssuedInFutureError, match=r"after today \(2025-10-10\)"):
        check_eligible(d, today=date(2025, 10, 10), school_age=AGE)
    check_eligible(d, today=date(2025, 10, 11), school_age=AGE)


def test_a_notice_rests_on_10_sessions_within_a_rolling_10_school_weeks_for_either_offence() -> None:
    week = [date(2025, 9, 15) + timedelta(days=i) for i in range(5)]
    for offence in Offence:
        assert check_threshold(draft(MUM, date(2025, 9, 20), sessions(*week), offence=offence), iso_week) is None
        with pytest.raises(BelowThresholdError, match="the 8 session"):
            check_threshold(draft(MUM, date(2025, 9, 20), sessions(*week[:4]), offence=offence), iso_week)
    # one session in each of 10 consecutive school weeks meets it; spread over 11 it does not
    ten = tuple(Session(date(2025, 9, 1) + timedelta(weeks=i), "AM") for i in range(10))
    check_threshold(draft(MUM, date(2025, 12, 1), ten), iso_week)
    spread = (*ten[:9], Session(date(2025, 9, 1) + timedelta(weeks=10), "AM"))
    with pytest.raises(BelowThresholdError):
        check_threshold(draft(MUM, date(2025, 12, 1), spread), iso_week)
    # weeks without sessions (a holiday) do not count: the same dates, a fortnight's break in them
    def with_break(d: date) -> int:
        return iso_week(d) - (2 if d >= date(2025, 10, 27) else 0)

    assert meets_threshold(spread, iso_week) is False
    holiday = (*ten[:8], *(Session(date(2025, 11, 3) + timedelta(weeks=i), "AM") for i in range(2)))
    assert meets_threshold(holiday, with_break) and not meets_threshold(holiday, iso_week)


@given(weeks=st.lists(st.integers(min_value=0, max_value=30), max_size=25))
def test_the_threshold_is_met_exactly_when_some_10_week_window_holds_10_sessions(weeks: list[int]) -> None:
    monday = date(2025, 1, 6)
    chosen = {Session(monday + timedelta(weeks=w, days=i % 5), "AM" if i % 2 else "PM") for i, w in enumerate(weeks)}
    week_of = {s: (s.on - monday).days // 7 for s in chosen}
    oracle = any(sum(1 for w in week_of.values() if start <= w < start + 10) >= 10 for start in range(31))
    assert meets_threshold(chosen, lambda d: (d - monday).days // 7) == oracle


# -- the property: record never accepts what the rules forbid, and the fact agrees --------------

START = date(2022, 1, 3)
_POOL = [Session(START + timedelta(days=7 * i), h) for i in range(6) for h in ("AM", "PM")]


def _anniversary(d: date) -> date:
    """Three years on, computed apart from the module's ``years_after`` (the oracle's own)."""
    if (d.month, d.day) == (2, 29):
        return date(d.year + 3, 3, 1)
    return date(d.year + 3, d.month, d.day)


def _rules_hold(notices: list[NoticeVersion]) -> bool:
    for parent in BOTH:
        standing = [n for n in notices if n.counts and n.draft.parent == parent]
        days = sorted(n.draft.issued_on for n in standing)
        if any(c < _anniversary(a) for a, _, c in combinations(days, 3)):
            return False
        for x, y in combinations(standing, 2):
            if set(x.draft.sessions) & set(y.draft.sessions):
                return False
    return True


def _amount_right(notices: list[NoticeVersion], new: NoticeVersion) -> bool:
    """A penalty notice just recorded is the parent's latest standing one (so no later notice's
    amount was fixed without it) and asks for a first, or a second within three years."""
    mine = [n for n in notices if n.counts and n.draft.parent == new.draft.parent and n is not new]
    if new.draft.kind is Kind.NOTICE_TO_IMPROVE:
        return new.amounts is None
    if any(n.draft.issued_on > new.draft.issued_on for n in mine):
        return False
    earlier = any(new.draft.issued_on < _anniversary(n.draft.issued_on) for n in mine)
    return new.amounts == (SECOND_NOTICE if earlier else FIRST_NOTICE)


_attempt = st.tuples(
    st.sampled_from(sorted(BOTH)),
    st.integers(min_value=0, max_value=6 * 365),
    st.lists(st.sampled_from(_POOL), min_size=1, max_size=3, unique=True),
    st.sampled_from(list(Kind)),
    st.booleans(),  # withdraw a standing notice after this attempt
)


@settings(max_examples=300, deadline=None)
@given(attempts=st.lists(_attempt, max_size=12), asked=st.integers(min_value=0, max_value=7 * 365))
def test_record_never_accepts_a_notice_the_rules_forbid_and_the_fact_agrees_with_record(
    attempts: list[tuple[str, int, list[Session], Kind, bool]], asked: int
) -> None:
    reg = Register()
    for parent, offset, chosen, kind, withdraw in attempts:
        issued = START + timedelta(days=42 + offset)
        d = draft(parent, issued, tuple(sorted(chosen)), kind=kind)
        would_hold = _rules_hold(
            [*reg.notices, NoticeVersion(0, 1, d, (), Status.ISSUED, None, "x", AT)]
        )
        back_dated = kind is Kind.PENALTY_NOTICE and any(
            n.counts and n.draft.parent == parent and n.draft.issued_on > issued for n in reg.notices
        )
        try:
            new = reg.record(d)
        except BackDatedNoticeError:
            assert back_dated
        except (ThirdNoticeError, SessionsAlreadyUsedError):
            assert not would_hold and not back_dated
        else:
            assert would_hold and not back_dated
            assert _amount_right(reg.notices, new)
        assert _rules_hold(reg.notices)
        standing = [n for n in reg.notices if n.status is Status.ISSUED]
        if withdraw and standing:
            reg.withdraw(standing[0])
    # after every pooled session (fresh is unused) and on or after every notice: the register
    # refuses a notice dated before a standing one, and records none dated after today
    on = max([START + timedelta(days=42), *(n.draft.issued_on for n in reg.notices)])
    on += timedelta(days=asked)
    facts = pupil_facts(reg.notices, SCHOOL, PUPIL, sorted(BOTH), on)
    fresh = (Session(on, "AM"),)  # sessions no notice has used
    accepted = []
    for parent in sorted(BOTH):
        try:
            check_record(draft(parent, on, fresh), reg.notices, BOTH, marked("O", fresh))
            accepted.append(parent)
        except ThirdNoticeError:
            pass
    assert facts[ALLOWED_FACT] == float(bool(accepted))
    most = max(
        sum(
            1
            for n in reg.notices
            if n.counts and n.draft.parent == p and n.draft.issued_on <= on < _anniversary(n.draft.issued_on)
        )
        for p in BOTH
    )
    assert facts[MOST_FACT] == most
