"""A copy addressed when its letter was prepared, against the pupil's contacts as known now:
it stands only while every contact on it may still be written to and its household reads as it
did (``letters.readdressing``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.letters.addressing import Household, households
from escalation_flow.letters.readdressing import stale_copy

AT = datetime(2025, 9, 1, tzinfo=UTC)


def contact(i: int, address: str, email: str) -> ContactVersion:
    return ContactVersion(
        school="oaks", pupil="P1", contact=f"C{i}", name=f"Parent {i}", relationship="parent",
        parental_responsibility=True, recorded_at=AT, address=address, email=email, priority=i,
        may_be_contacted=True,
    )  # fmt: skip


families = st.lists(
    st.tuples(st.sampled_from(["1 Oak Lane", "9 Elm Road", ""]), st.sampled_from(["", "a@x.org"])),
    min_size=1, max_size=4,
).map(lambda rows: [contact(i, a, e) for i, (a, e) in enumerate(rows, 1)])  # fmt: skip


@given(families)
def test_every_copy_stands_while_the_contacts_are_as_they_were_prepared(
    known: list[ContactVersion],
) -> None:
    assert [stale_copy(h, known) for h in households(known)] == [None] * len(households(known))


@given(families, st.data())
def test_a_copy_naming_a_contact_now_not_to_be_contacted_is_cancelled(
    known: list[ContactVersion], data: st.DataObject
) -> None:
    copy = data.draw(st.sampled_from(households(known)))
    barred = data.draw(st.sampled_from(copy.contacts))
    now = [replace(c, may_be_contacted=False) if c.contact == barred else c for c in known]
    stale = stale_copy(copy, now)
    assert stale is not None and stale.status == "cancelled"


@given(families, st.data(), st.sampled_from(["address", "email", "name"]))
def test_a_copy_whose_contact_moved_or_changed_email_or_name_needs_readdressing(
    known: list[ContactVersion], data: st.DataObject, what: str
) -> None:
    copy = data.draw(st.sampled_from(households(known)))
    moved = data.draw(st.sampled_from(copy.contacts))
    now = [replace(c, **{what: "7 Refuge Close" if what == "address" else "new@y.org"
                         if what == "email" else "Renamed"}) if c.contact == moved else c
           for c in known]  # fmt: skip
    stale = stale_copy(copy, now)
    assert stale is not None and stale.status == "needs_readdressing"


def test_a_copy_whose_contact_lost_parental_responsibility_is_cancelled() -> None:
    known = [contact(1, "1 Oak Lane", "a@x.org")]
    [copy] = households(known)
    stale = stale_copy(copy, [replace(known[0], parental_responsibility=False)])
    assert stale is not None and stale.status == "cancelled"
    assert "parental responsibility" in stale.reason


def test_the_copy_of_a_pupil_with_no_contact_known_has_nothing_to_compare() -> None:
    assert stale_copy(Household(), [contact(1, "1 Oak Lane", "")]) is None


# -- preparing a held letter again (``readdress``) ------------------------------------------------


def test_readdress_gives_a_held_copy_its_household_now_keeps_a_sent_one_and_adds_a_new_one() -> (
    None
):
    from escalation_flow.letters.readdressing import readdress

    before = [contact(1, "1 Oak Lane", "a@x.org"), contact(2, "9 Elm Road", "")]
    copies = households(before)
    now = [
        contact(1, "7 Refuge Close", "a@x.org"),  # moved: her copy was held
        replace(contact(2, "9 Elm Road", ""), name="Parent Two"),  # renamed: his copy went
        contact(3, "4 Ash Road", ""),  # parental responsibility recorded since
    ]
    plan = readdress(copies, {"C1": "needs_readdressing", "C2": "printed"}, now)
    assert [(k, after.postal_address) for k, _, after in plan.readdressed] == [
        ("C1", "7 Refuge Close")
    ]
    assert [h.contacts for h in plan.added] == [("C3",)]
    assert plan.cancelled == ()
    assert [h.names for h in plan.addressees] == [("Parent 1",), ("Parent 2",), ("Parent 3",)]
    assert plan.changes() == [
        "copy to Parent 1: postal address 1 Oak Lane -> 7 Refuge Close",
        "new copy to Parent 3 (a household the letter did not address)",
    ]


def test_readdress_cancels_a_held_copy_whose_contacts_are_now_one_household() -> None:
    from escalation_flow.letters.readdressing import readdress

    copies = households([contact(1, "1 Oak Lane", ""), contact(2, "9 Elm Road", "")])
    together = [contact(1, "1 Oak Lane", ""), contact(2, "1 Oak Lane", "")]
    plan = readdress(copies, {"C1": "for_post", "C2": "needs_readdressing"}, together)
    assert [h.contacts for h in plan.cancelled] == [("C2",)]
    assert [h.contacts for h in plan.added] == [("C1", "C2")]
