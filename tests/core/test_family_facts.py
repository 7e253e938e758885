"""Family facts from the previous evening's snapshot (``core.family_facts``) and the statutory
social-worker task (``core.statutory``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.family_facts import (
    FAMILY_FACT_NAMES,
    FamilySnapshot,
    SchoolEvening,
    family_facts,
    is_social_worker,
)

AT = datetime(2025, 9, 1, 7, tzinfo=UTC)


def contact(
    school: str, pupil: str, cid: str, relationship: str = "mother", pr: bool = True
) -> ContactVersion:
    return ContactVersion(school, pupil, cid, f"name of {cid}", relationship, pr, AT)


def evening(school: str, rows: dict[str, tuple[bool, float]]) -> SchoolEvening:
    pupils = tuple(rows)
    return SchoolEvening(
        school,
        pupils,
        np.array([rows[p][0] for p in pupils], dtype=bool),
        np.array([rows[p][1] for p in pupils], dtype=float),
    )


# Emily (a) and Oliver (b) share their mother; Oliver and Isla (b) their father; Zoe alone.
CONTACTS = [
    contact("a", "emily", "mum"),
    contact("b", "oliver", "mum"),
    contact("b", "oliver", "dad"),
    contact("b", "isla", "dad"),
    contact("a", "zoe", "gran", "grandmother", pr=False),
    contact("a", "zoe", "sw1", "Social Worker", pr=False),
]
EVENINGS = [
    evening("a", {"emily": (True, 4.0), "zoe": (False, 3.0)}),
    evening("b", {"oliver": (False, 2.0), "isla": (True, 1.0)}),
]


def test_siblings_with_open_cases_counts_the_family_across_schools_but_not_the_pupil() -> None:
    snapshot = FamilySnapshot.of(CONTACTS, EVENINGS)
    at_a = family_facts(snapshot, "a", ("emily", "zoe"))
    at_b = family_facts(snapshot, "b", ("oliver", "isla"))
    assert at_a["siblings_with_open_cases"].tolist() == [1.0, 0.0]  # Isla, through Oliver
    assert at_b["siblings_with_open_cases"].tolist() == [2.0, 1.0]


def test_the_family_total_is_every_member_as_of_their_previous_evening() -> None:
    snapshot = FamilySnapshot.of(CONTACTS, EVENINGS)
    total = "family_unauthorised_sessions_last_10_school_weeks"
    assert family_facts(snapshot, "a", ("emily", "zoe"))[total].tolist() == [7.0, 3.0]
    assert family_facts(snapshot, "b", ("isla",))[total].tolist() == [7.0]


def test_a_social_worker_is_a_contact_whose_relationship_says_so() -> None:
    snapshot = FamilySnapshot.of(CONTACTS, EVENINGS)
    assert family_facts(snapshot, "a", ("emily", "zoe"))["has_social_worker"].tolist() == [0, 1]
    said = (
        "social worker", "social_worker", "Social-Worker", "children's social worker",
        "Children’s Social Worker", "Allocated social worker", "Social worker (LA)",
    )  # fmt: skip
    for words in said:
        assert is_social_worker(contact("a", "p", "c", words, pr=False))
    for words in ("social club", "worker", "socialworker's mum", "Mother"):
        assert not is_social_worker(contact("a", "p", "c", words, pr=False))


def test_without_a_snapshot_every_family_fact_is_unknown() -> None:
    facts = family_facts(None, "a", ("emily",))
    assert set(facts) == set(FAMILY_FACT_NAMES)
    assert all(math.isnan(v[0]) for v in facts.values())


def test_before_any_evening_the_family_total_is_unknown_and_no_sibling_is_open() -> None:
    facts = family_facts(FamilySnapshot.of(CONTACTS, []), "a", ("emily",))
    assert math.isnan(facts["family_unauthorised_sessions_last_10_school_weeks"][0])
    assert facts["siblings_with_open_cases"][0] == 0


@given(st.permutations(["a", "b"]), st.permutations(CONTACTS))
def test_the_facts_do_not_depend_on_the_order_schools_or_contacts_come_in(
    schools: list[str], contacts: list[ContactVersion]
) -> None:
    reference = {
        s: family_facts(
            FamilySnapshot.of(CONTACTS, EVENINGS), s, ("emily", "oliver", "isla", "zoe")
        )
        for s in "ab"
    }
    evenings = sorted(EVENINGS, key=lambda e: schools.index(e.school))
    snapshot = FamilySnapshot.of(contacts, evenings)
    for s in schools:
        got = family_facts(snapshot, s, ("emily", "oliver", "isla", "zoe"))
        for name in FAMILY_FACT_NAMES:
            np.testing.assert_array_equal(got[name], reference[s][name])
