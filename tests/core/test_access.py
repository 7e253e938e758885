"""Who may read, do and approve what: the rules every staff page asks."""

from __future__ import annotations

import pytest

from escalation_flow.core.access import (
    HELD_ROLES,
    Grant,
    Principal,
    ServiceRole,
    check_grant,
    staff_role,
)
from escalation_flow.core.definition import Role

R = Role
LEAD = Principal(1, "lead", "Lee", (Grant(R.ATTENDANCE_LEAD, "a"),))
TEACHER = Principal(2, "t", "Tam", (Grant(R.CLASS_TEACHER, "a", frozenset({"3", "4"})),))
DSL = Principal(3, "dsl", "Dee", (Grant(R.DESIGNATED_SAFEGUARDING_LEAD, "a"),))
TRUST = Principal(4, "trust", "Tru", (Grant(R.ATTENDANCE_TEAM, None),))
SCHOOL_TEAM = Principal(5, "team", "Tea", (Grant(R.ATTENDANCE_TEAM, "a"),))
AUDITOR = Principal(6, "aud", "Aud", (Grant(ServiceRole.AUDITOR, None),))
OFFICE = Principal(7, "office", "Off", (Grant(R.ADMIN_STAFF, "a"),))
HEAD = Principal(8, "head", "Hea", (Grant(R.HEADTEACHER, "a"),))


@pytest.mark.parametrize(
    ("who", "school", "year", "reads"),
    [
        (LEAD, "a", "6", True),
        (LEAD, "b", "6", False),
        (TEACHER, "a", "3", True),
        (TEACHER, "a", "5", False),
        (TEACHER, "a", None, False),
        (TEACHER, "b", "3", False),
        (TRUST, "b", "5", True),
        (SCHOOL_TEAM, "b", "5", False),
        (AUDITOR, "z", None, True),
    ],
)
def test_who_reads_which_pupil(who: Principal, school: str, year: str | None, reads: bool) -> None:
    assert who.can_read_pupil(school, year) is reads


@pytest.mark.parametrize(
    ("who", "role", "year", "mine"),
    [
        (LEAD, "attendance_lead", "1", True),
        (LEAD, "attendance_team", "1", True),  # the lead leads the school's team
        (LEAD, "local_authority", "1", True),  # and records the local authority's steps
        (LEAD, "class_teacher", "1", False),
        (TEACHER, "class_teacher", "3", True),
        (TEACHER, "class_teacher", "5", False),
        (HEAD, "head_of_academy", "1", True),
        (OFFICE, "attendance_team", "1", False),
        (AUDITOR, "attendance_lead", "1", False),
        (TRUST, "attendance_team", "1", True),
    ],
)
def test_whose_worklist_a_task_is_on(
    who: Principal, role: str, year: str | None, mine: bool
) -> None:
    assert who.is_mine("a", role, year) is mine


@pytest.mark.parametrize(
    ("who", "completes", "approves", "writes"),
    [
        (LEAD, True, True, True),  # leaders complete any task of their school and approve
        (HEAD, True, True, True),
        (OFFICE, False, False, True),
        (TEACHER, False, False, True),
        (TRUST, True, True, True),
        (SCHOOL_TEAM, True, False, True),
        (AUDITOR, False, False, False),
    ],
)
def test_who_completes_another_roles_task_and_approves_letters(
    who: Principal, completes: bool, approves: bool, writes: bool
) -> None:
    assert who.may_complete("a", "attendance_team", "3") is completes
    assert who.may_approve_letter("a", "attendance_team") is approves
    assert who.can_write("a") is writes


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        (DSL, True),
        (TRUST, True),
        (LEAD, False),
        (HEAD, False),
        (SCHOOL_TEAM, False),
        (AUDITOR, False),
    ],
)
def test_only_the_dsl_and_the_trust_team_see_safeguarding_details(
    who: Principal, sees: bool
) -> None:
    assert who.sees_safeguarding("a") is sees


def test_a_dsl_approves_their_own_referral_letters_only() -> None:
    assert DSL.may_approve_letter("a", "designated_safeguarding_lead")
    assert not DSL.may_approve_letter("a", "attendance_team")


def test_a_class_teacher_reads_only_their_year_groups_of_their_school() -> None:
    assert TEACHER.year_groups_at("a") == frozenset({"3", "4"})
    assert LEAD.year_groups_at("a") is None
    assert TEACHER.readable_schools(["a", "b"]) == ["a"]


@pytest.mark.parametrize(
    ("grant", "problem"),
    [
        (Grant(R.ATTENDANCE_LEAD, None), "held at a school"),
        (Grant(R.CLASS_TEACHER, "a"), "year groups"),
        (Grant(R.ADMIN_STAFF, "a", frozenset({"3"})), "only class teachers"),
        (Grant(R.ATTENDANCE_TEAM, None), None),
        (Grant(R.ATTENDANCE_TEAM, "a"), None),
        (Grant(ServiceRole.AUDITOR, None), None),
        (Grant(R.CLASS_TEACHER, "a", frozenset({"R"})), None),
    ],
)
def test_grants_that_cannot_be_held_say_why(grant: Grant, problem: str | None) -> None:
    why = check_grant(grant)
    if problem is None:
        assert why is None
    else:
        assert why is not None and problem in why


def test_staff_hold_the_flows_task_roles_but_the_local_authoritys_and_the_service_roles() -> None:
    held = {r.value for r in HELD_ROLES}
    assert held == ({r.value for r in Role} - {"local_authority"}) | {
        "auditor",
        "data_protection_officer",
    }
    assert staff_role("attendance_lead") is Role.ATTENDANCE_LEAD
    assert staff_role("auditor") is ServiceRole.AUDITOR
    with pytest.raises(ValueError, match="local_authority"):
        staff_role("local_authority")


def test_the_data_protection_officer_reads_but_acts_on_no_case() -> None:
    dpo = Principal(9, "dpo", "D P O", (Grant(ServiceRole.DATA_PROTECTION_OFFICER, None),))
    assert dpo.can_read_school("oak")
    assert dpo.is_data_protection_officer()
    assert not dpo.can_write("oak")
    assert dpo.task_roles("oak") == frozenset()
    assert not dpo.may_complete("oak", "attendance_lead", "6")
    assert not dpo.may_approve_letter("oak", "attendance_lead")
    assert not dpo.sees_safeguarding("oak")
