"""The subject access draft's rules: what is redacted, what is withheld, what is flagged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.marks import PupilRecord
from escalation_flow.core.subject_access import (
    FREE_TEXT_REVIEW,
    WITHHELD,
    DraftWriter,
    Flagged,
    FreeText,
    Redacted,
    Secret,
    SubjectKind,
    contact_secrets,
    pupil_secrets,
    redact,
    redact_patterns,
)

T = datetime(2025, 9, 1, tzinfo=UTC)


def contact(cid: str, address: str, email: str = "", phone: str = "") -> ContactVersion:
    return ContactVersion("s1", "P1", cid, cid, "parent", True, T, address=address, email=email,
                          telephone=phone)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Mason was late", "[REDACTED: a sibling's name or data] was late"),
        ("MASON was late", "[REDACTED: a sibling's name or data] was late"),
        ("Masonry was late", "Masonry was late"),  # whole words only
        ("at 3 Mill Road today", "at [REDACTED: another person's postal address] today"),
    ],
)
def test_redact_replaces_whole_words_whatever_their_case(text: str, shown: str) -> None:
    secrets = [Secret("Mason", Redacted.SIBLING), Secret("3 Mill Road", Redacted.ADDRESS),
               Secret("Mill Road", Redacted.ADDRESS)]  # fmt: skip
    assert redact(text, secrets)[0] == shown


def test_another_contacts_address_lines_email_and_telephone_are_secrets_but_not_the_requesters() -> (
    None
):
    anna = contact("A", "3 Mill Road, Exampleton EX2 2AB", "anna@example.org", "07700 900106")
    piotr = contact("P", "41 Station Road, Otherby OT1 1CD", "p@example.org", "07700 900107")
    texts = {s.text for s in contact_secrets([anna, piotr], requester="P")}
    assert texts == {
        "3 Mill Road, Exampleton EX2 2AB", "3 Mill Road", "Exampleton EX2 2AB",
        "anna@example.org", "07700 900106",
    }  # fmt: skip


def test_a_household_the_requester_shares_is_not_redacted_from_them() -> None:
    one = contact("A", "8 Mill Road, Exampleton EX2 1AB", "a@example.org")
    two = contact("B", "8 Mill Road, Exampleton EX2 1AB", "b@example.org")
    assert {s.text for s in contact_secrets([one, two], requester="A")} == {"b@example.org"}


def test_a_siblings_forename_is_a_secret_but_the_subjects_own_name_never_is() -> None:
    noah = PupilRecord("s3", "N1", "Noah", "Kowalski")
    ethan = PupilRecord("s4", "E1", "Ethan", "Kowalski")
    other = PupilRecord("s1", "A1", "Ava", "Wood")
    secrets = pupil_secrets([noah, ethan, other], subject={("s3", "N1")}, siblings={("s4", "E1")})
    kinds = {s.text: s.kind for s in secrets}
    assert kinds == {
        "Ethan Kowalski": Redacted.SIBLING, "E1": Redacted.SIBLING, "Ethan": Redacted.SIBLING,
        "Ava Wood": Redacted.OTHER_PUPIL, "A1": Redacted.OTHER_PUPIL,
    }  # fmt: skip


def test_the_writer_lists_each_redaction_and_withholds_safeguarding_with_a_flag() -> None:
    w = DraftWriter([Secret("Mason", Redacted.SIBLING)])
    w.section("Notes")
    w.line("spoke about Mason", "note 1")
    w.withheld("history record 2", "2025-10-10: ")
    w.flag(Flagged.CHILD_DATA, "child s1/P1")
    draft = w.draft(SubjectKind.PUPIL, "s1/P1", "Ava", "dpo", T)
    assert draft.sections[0].lines == (
        "spoke about [REDACTED: a sibling's name or data]",
        "2025-10-10: " + WITHHELD,
    )
    assert [(r.where, r.kind) for r in draft.redactions] == [("note 1", Redacted.SIBLING)]
    assert [f.kind for f in draft.flags] == [Flagged.SAFEGUARDING, Flagged.CHILD_DATA]
    assert "Schedule 3" in draft.flags[0].reason
    assert draft.counts()["safeguarding_withheld"] == 1


FINDING = (
    "Spoke to mum on 07700900248 (also 07700 900248); she now stays at 29 Victoria Rd, EX54AB"
)


@pytest.mark.parametrize(
    "secret",
    ["07700900248", "07700 900248", "29 Victoria Rd", "EX54AB", "+44 (0)1392 123456",
     "(01392) 123-456", "mum@home.example", "ex5 4ab", "3a Mill Road"],
)  # fmt: skip
def test_free_text_is_redacted_by_the_form_of_a_number_email_postcode_or_street(
    secret: str,
) -> None:
    shown, hidden = redact_patterns(f"note: call {secret} today")
    assert secret not in shown and "[REDACTED: another person's" in shown
    assert hidden


def test_a_staff_note_with_details_no_record_holds_comes_out_redacted() -> None:
    w = DraftWriter([])
    w.section("Tasks")
    w.line(f"call_home for attendance_lead, created 2025-10-01: done; staff note: {FINDING}",
           "task 4", ["staff note"])  # fmt: skip
    draft = w.draft(SubjectKind.PUPIL, "s1/P1", "Ava", "dpo", T)
    [line] = draft.sections[0].lines
    for secret in ("07700900248", "07700 900248", "29 Victoria Rd", "EX54AB"):
        assert secret not in line
    assert line.startswith("call_home for attendance_lead, created 2025-10-01: done; staff note:")
    assert [r.kind for r in draft.redactions] == [Redacted.TELEPHONE, Redacted.ADDRESS]


@pytest.mark.parametrize(
    "text",
    ["S03-P0005 missed 12 sessions on 2025-10-10 at 09:00", "ids 0123 4567; 3 sessions lost"],
)
def test_dates_ids_and_counts_are_not_taken_for_numbers_or_addresses(text: str) -> None:
    assert redact_patterns(text) == (text, [])


def test_every_free_text_field_is_listed_for_review_even_when_nothing_was_redacted() -> None:
    w = DraftWriter([])
    w.section("Attendance case")
    w.line("2025-10-10: case opened", "history record 1")
    w.line("2025-10-11: meeting held; staff note: all well", "history record 2", ["staff note"])
    draft = w.draft(SubjectKind.PUPIL, "s1/P1", "Ava", "dpo", T)
    assert draft.redactions == ()
    assert draft.free_text == (FreeText("Attendance case", "history record 2", ("staff note",)),)
    assert draft.counts()["free_text"] == 1
    assert FREE_TEXT_REVIEW == "free text: read it for third parties before release"
