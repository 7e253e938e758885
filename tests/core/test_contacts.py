"""Contacts as known at a time, the families they make, and what each viewer sees of siblings."""

from __future__ import annotations

from datetime import UTC, datetime

from escalation_flow.core.access import Grant, Principal
from escalation_flow.core.contacts import ContactVersion, as_known_at, families
from escalation_flow.core.definition import Role
from escalation_flow.core.siblings import (
    ANOTHER_SCHOOL,
    SAME_SCHOOL,
    Sibling,
    as_seen_by,
    as_seen_where,
    reader_of,
)

SEPT = datetime(2025, 9, 1, 7, tzinfo=UTC)
NOV = datetime(2025, 11, 10, 9, tzinfo=UTC)


def contact(
    school: str, pupil: str, cid: str, *, pr: bool = True, at: datetime = SEPT, **kw: object
) -> ContactVersion:
    return ContactVersion(
        school=school, pupil=pupil, contact=cid, name=kw.pop("name", f"Parent {cid}"),  # type: ignore[arg-type]
        relationship="parent", parental_responsibility=pr, recorded_at=at, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_amended_contact_is_its_latest_version_as_known_at_each_time() -> None:
    old = contact("a", "P1", "C1", telephone="01")
    new = contact("a", "P1", "C1", telephone="02", at=NOV)
    assert as_known_at([old, new], datetime(2025, 10, 1, tzinfo=UTC)) == [old]
    assert as_known_at([old, new], NOV) == [new]
    assert as_known_at([new, old]) == [new]  # the order of the rows does not matter
    assert as_known_at([old, new], datetime(2025, 8, 1, tzinfo=UTC)) == []


def test_pupils_sharing_a_parent_with_parental_responsibility_are_siblings_across_schools() -> None:
    book = families([contact("a", "P1", "MUM"), contact("b", "Q7", "MUM")])
    assert book.siblings("a", "P1") == (("b", "Q7"),)
    assert book.siblings("b", "Q7") == (("a", "P1"),)
    assert book.shared_contacts(("a", "P1"), ("b", "Q7")) == ("Parent MUM",)


def test_half_siblings_through_different_parents_are_one_family() -> None:
    # A and B share their mother; B and C their father: A and C are in B's family too
    book = families(
        [
            contact("a", "A", "MUM"),
            contact("b", "B", "MUM"),
            contact("b", "B", "DAD"),
            contact("c", "C", "DAD"),
            contact("c", "D", "OTHER"),  # not linked to anyone
        ]
    )
    assert book.siblings("a", "A") == (("b", "B"), ("c", "C"))
    assert book.siblings("c", "C") == (("a", "A"), ("b", "B"))
    assert book.shared_contacts(("a", "A"), ("c", "C")) == ()  # linked through B only
    assert book.siblings("c", "D") == ()


def test_a_contact_without_parental_responsibility_links_no_one() -> None:
    book = families([contact("a", "P1", "GRAN", pr=False), contact("b", "P2", "GRAN", pr=False)])
    assert book.siblings("a", "P1") == ()


def test_separated_parents_both_with_parental_responsibility_link_the_same_children() -> None:
    rows = [
        contact("a", "P1", "MUM", lives_with_pupil=True),
        contact("a", "P1", "DAD", lives_with_pupil=False, address="elsewhere"),
        contact("b", "P2", "MUM", lives_with_pupil=True),
        contact("b", "P2", "DAD", lives_with_pupil=False, address="elsewhere"),
    ]
    book = families(as_known_at(rows))
    assert book.siblings("a", "P1") == (("b", "P2"),)
    assert book.shared_contacts(("a", "P1"), ("b", "P2")) == ("Parent DAD", "Parent MUM")


def test_parental_responsibility_withdrawn_by_an_amendment_unlinks_from_then_on() -> None:
    rows = [contact("a", "P1", "X"), contact("b", "P2", "X"), contact("b", "P2", "X", pr=False, at=NOV)]
    assert families(as_known_at(rows, SEPT)).siblings("a", "P1") == (("b", "P2"),)
    assert families(as_known_at(rows, NOV)).siblings("a", "P1") == ()


SIBLINGS = [
    Sibling("school-a", "P2", "Sam", "3", 91.0, 2, "stage_2"),
    Sibling("school-a", "P3", "Kim", "5", 99.0),
    Sibling("school-b", "Q1", "Lee", "8", 80.0, 3, "stage_3"),
]


def test_a_class_teacher_at_school_a_sees_nothing_of_a_sibling_at_school_b() -> None:
    teacher = Principal(1, "t", "T", (Grant(Role.CLASS_TEACHER, "school-a", frozenset({"3"})),))
    seen = as_seen_by(teacher, "school-a", SIBLINGS)
    assert seen[0] == SIBLINGS[0]
    assert [s.hidden for s in seen[1:]] == [SAME_SCHOOL, ANOTHER_SCHOOL]
    hidden = seen[2]
    assert (hidden.school, hidden.pupil, hidden.name, hidden.attendance_pct, hidden.stage) == (
        "", "", "", None, None,
    )  # fmt: skip
    assert hidden.line() == "a sibling at another school in the trust"


def test_the_trust_attendance_team_sees_every_sibling() -> None:
    team = Principal(2, "t", "T", (Grant(Role.ATTENDANCE_TEAM, None),))
    assert as_seen_by(team, "school-a", SIBLINGS) == SIBLINGS
    assert as_seen_by(None, "school-a", SIBLINGS) == SIBLINGS


def test_a_report_read_for_one_school_names_a_sibling_elsewhere_only_as_such() -> None:
    seen = as_seen_where("school-a", SIBLINGS, reader_of(["school-a"], None))
    assert seen[:2] == SIBLINGS[:2]
    assert [s.hidden for s in seen[2:]] == [ANOTHER_SCHOOL]
    assert as_seen_where("school-a", SIBLINGS, reader_of(None, None)) == SIBLINGS


def test_a_report_read_by_a_class_teacher_hides_their_schools_other_year_groups_too() -> None:
    teacher = Principal(1, "t", "T", (Grant(Role.CLASS_TEACHER, "school-a", frozenset({"3"})),))
    every = ["school-a", "school-b"]
    seen = as_seen_where("school-a", SIBLINGS, reader_of(every, teacher))
    assert seen == as_seen_by(teacher, "school-a", SIBLINGS)
    assert [s.hidden for s in seen] == ["", SAME_SCHOOL, ANOTHER_SCHOOL]
