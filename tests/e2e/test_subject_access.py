"""``subject-access pupil|contact`` as the data protection officer runs it on the sample trust:
the draft is opened and read, for what must be in it and what must never be (issue 17, part 4).

The world (``web_world``): Noah Kowalski (school-03) has separated parents, Anna (lives with
him) and Piotr (lives elsewhere), each sent their own copy of a letter, and a brother Ethan at
school-04; Evie Baker (school-03) has a safeguarding concern on record, with a note.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant, ServiceRole
from tests.e2e.web_world import NOW, TRUST_DIR, World, new_world

NOAH = ("school-03", "S03-P0005")
EVIE = ("school-03", "S03-P0007")
PIOTR, ANNA = "C-7002", "C-7001"
ANNA_REACH = ("3 Mill Road", "anna.kowalski@example.org", "07700 900106")
PIOTR_REACH = ("41 Station Road", "piotr.kowalski@example.org", "07700 900999")
NOTE = "Mum brought the hospital letter; Ethan stayed home with her, as did Ava Wood next door"


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = new_world(tmp_path)
    store = Store(w.url)
    try:
        staff = StaffStore(store.engine)
        now = datetime(2025, 9, 1, tzinfo=UTC)
        staff.add_staff(
            "dpo", "Dee Okafor", "!", [Grant(ServiceRole.DATA_PROTECTION_OFFICER, None)], now
        )
        staff.add_staff(
            "dpo1", "Lee Park", "!", [Grant(ServiceRole.DATA_PROTECTION_OFFICER, "school-01")], now
        )
        # the designated safeguarding lead read Evie's record on the case page
        staff.audit(
            "dsl", "view_safeguarding", NOW, school=EVIE[0], pupil=EVIE[1], detail="case page"
        )
        service = w.service(store)
        service.record_event(*NOAH, "medical_evidence_received", by="lead3", note=NOTE)
    finally:
        store.dispose()
    return w


def run(world: World, *args: str) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
    }
    return CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(NOW)))


def drafted(world: World, out: Path, *subject: str, by: str = "dpo") -> dict[str, str]:
    """Run the command and read back every file it wrote (the PDF as its text, where
    poppler's pdftotext is installed)."""
    result = run(world, "subject-access", *subject, "--out", str(out), "--by", by)
    assert result.exit_code == 0, result.output
    assert "DRAFT (not for release)" in result.stdout
    files = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir() if p.suffix != ".pdf"}
    assert (out / "draft.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        done = subprocess.run(
            ["pdftotext", "-layout", str(out / "draft.pdf"), "-"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        files["draft.pdf"] = done.stdout
    return files


def test_a_pupils_draft_holds_their_own_data_and_redacts_parents_details_and_siblings(
    world: World, tmp_path: Path
) -> None:
    files = drafted(world, tmp_path / "noah", "pupil", *NOAH)
    html, review = files["draft.html"], files["REVIEW.md"]
    document = json.loads(files["draft.json"])
    assert "DRAFT — NOT FOR RELEASE" in html and review.startswith("# DRAFT — NOT FOR RELEASE")
    # the pupil's own data: roster, marks, case history, tasks, the letter's words, contacts
    assert "Name: Noah Kowalski" in html and "Date of birth: 2021-06-23" in html
    assert document["subject"] == "school-03/S03-P0005"
    titles = [s["title"] for s in document["sections"]]
    assert titles[:4] == ["The pupil", "Contacts", "Siblings", "Attendance marks"]
    marks = next(s for s in document["sections"] if s["title"] == "Attendance marks")
    assert len(marks["lines"]) > 20 and "present (AM)" in marks["lines"][0]
    assert "formal_attendance_meeting for attendance_lead" in html
    assert "Letter 26: first_concern_letter" in html
    assert "Anna Kowalski (mother of school-03/S03-P0005" in html  # who the parents are
    # third parties: each parent's address, email and telephone, the brother, a neighbour
    for text in files.values():
        for secret in (*ANNA_REACH, *PIOTR_REACH, "Ethan", "S04-P0006", "Ava Wood"):
            assert secret not in text, secret
    assert "[REDACTED: another person's postal address]" in html
    assert "a sibling at another school of the trust: [REDACTED: a sibling's name or data]" in html
    # the staff note naming other pupils keeps its own words
    assert "Mum brought the hospital letter; [REDACTED: a sibling's name or data] stayed" in html
    assert "as did [REDACTED: another pupil's name] next door" in html
    assert "**another person's postal address** — Contacts" in review
    assert "**a sibling's name or data** — Siblings, sibling 1" in review
    assert "**another pupil's name** — Attendance case" in review
    assert "**the pupil's home address** — Contacts, contact C-7001" in review
    if "draft.pdf" in files:
        assert "DRAFT — NOT FOR RELEASE" in files["draft.pdf"]
        assert "Noah Kowalski" in files["draft.pdf"]


def test_a_safeguarding_records_content_is_never_written_and_each_is_flagged(
    world: World, tmp_path: Path
) -> None:
    files = drafted(world, tmp_path / "evie", "pupil", *EVIE)
    for text in files.values():
        for word in ("worry at home", "safeguarding_concern", "dsl_review",
                     "record_educational_neglect", "dsl_escalation", "view_safeguarding"):  # fmt: skip
            assert word not in text, word
    html, review = files["draft.html"], files["REVIEW.md"]
    assert "Name: Evie Baker" in html
    assert "[WITHHELD: a safeguarding record exists here" in html
    flags = [line for line in review.splitlines() if "**safeguarding record withheld**" in line]
    # the concern, the stage it moved to, two tasks for the DSL, the stage now, the DSL's view
    assert len(flags) >= 6
    assert all("Data Protection Act 2018, Schedule 3 (serious harm)" in f for f in flags)
    counts = json.loads(files["draft.json"])["counts"]
    assert counts["safeguarding_withheld"] == len(flags)


def test_a_separated_parents_draft_has_their_letters_and_not_the_other_parents_details(
    world: World, tmp_path: Path
) -> None:
    files = drafted(world, tmp_path / "piotr", "contact", PIOTR)
    html, review = files["draft.html"], files["REVIEW.md"]
    assert "41 Station Road, Otherby OT1 1CD" in html  # their own address, both versions
    assert "07700 900107" in html and "07700 900999" in html
    assert "Letter 26 about school-03/S03-P0005: first_concern_letter" in html
    assert "Piotr Kowalski" in html
    for text in files.values():
        for secret in (*ANNA_REACH, "Anna Kowalski"):
            assert secret not in text, secret
    assert "copies also went to 1 other household(s): [REDACTED: another household" in html
    assert "**another household's copy of this letter** — Letters addressed to you" in review
    # the letter was superseded before it went: held and addressed to him, never received
    assert "**a letter addressed to the requester but never sent** — Letters addressed" in review
    # the child's records are the child's: flagged with the command, not included
    assert "Noah Kowalski (school-03/S03-P0005): father, holds parental responsibility" in html
    assert "Attendance marks" not in html
    children = [line for line in review.splitlines() if "a child's records requested" in line]
    assert len(children) == 2  # Noah, and his brother Ethan at school-04
    assert "escalation-flow subject-access pupil school-03 S03-P0005 --out DIR" in children[0]
    assert "escalation-flow subject-access pupil school-04 S04-P0006 --out DIR" in children[1]


def test_each_run_is_in_the_staff_audit_log_and_audit_verify_still_passes(
    world: World, tmp_path: Path
) -> None:
    drafted(world, tmp_path / "noah", "pupil", *NOAH)
    drafted(world, tmp_path / "piotr", "contact", PIOTR)
    # a folder holding a draft under review is never written over (and the refusal not logged)
    again = run(world, "subject-access", "pupil", *NOAH, "--out", str(tmp_path / "noah"),
                "--by", "dpo")  # fmt: skip
    assert again.exit_code == 2 and "already holds a draft" in again.output
    store = Store(world.url)
    try:
        entries = StaffStore(store.engine).audit_entries(action="subject_access")
    finally:
        store.dispose()
    assert [(e.actor, e.school, e.pupil) for e in entries] == [
        ("dpo", None, None),
        ("dpo", "school-03", "S03-P0005"),
    ]
    piotr, noah = entries
    assert f"contact C-7002: draft written to {(tmp_path / 'piotr').resolve()}" in (
        piotr.detail or ""
    )
    assert "redactions" in (noah.detail or "") and "flags" in (noah.detail or "")
    verified = run(world, "audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_only_the_data_protection_officer_may_run_it_and_a_refusal_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    for by in ("auditor", "lead3", "trust", "dpo1"):  # dpo1 is the officer at school-01 only
        out = tmp_path / by
        result = run(world, "subject-access", "pupil", *NOAH, "--out", str(out), "--by", by)
        assert result.exit_code == 2, result.output
        assert "only the data protection officer may" in result.output
        assert not out.exists()
    stranger = run(world, "subject-access", "contact", PIOTR, "--out", str(tmp_path / "x"),
                   "--by", "nobody")  # fmt: skip
    assert stranger.exit_code == 2 and "is not a member of staff" in stranger.output
    # not even whether a contact is known is told to anyone but an officer
    unknown = run(world, "subject-access", "contact", "C-0000", "--out", str(tmp_path / "y"),
                  "--by", "auditor")  # fmt: skip
    assert unknown.exit_code == 2 and "only the data protection officer may" in unknown.output
    # `users add` makes a trust-wide officer without --school, who may answer it
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
    }
    added = CliRunner().invoke(
        main,
        ["users", "add", "r.khan", "--name", "Ruth Khan", "--role", "data_protection_officer",
         "--password-stdin"],
        input="a-long-enough-password\n", env=env, obj=Root(SimulatedClock(NOW)),
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Data protection officer, every school" in added.stdout
    assert run(world, "subject-access", "pupil", *NOAH, "--out", str(tmp_path / "d"),
               "--by", "r.khan").exit_code == 0  # fmt: skip


def test_an_unknown_pupil_or_contact_is_a_clear_error_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "none"
    pupil = run(world, "subject-access", "pupil", "school-03", "S03-P9999", "--out", str(out),
                "--by", "dpo")  # fmt: skip
    assert pupil.exit_code == 2
    assert "pupil 'S03-P9999' is not known at school school-03" in pupil.output
    contact = run(world, "subject-access", "contact", "C-0000", "--out", str(out), "--by", "dpo")
    assert contact.exit_code == 2 and "contact 'C-0000' is not in the contacts" in contact.output
    assert not out.exists()


FINDING = (
    "Spoke to mum on 07700900248 (also 07700 900248); she now stays at 29 Victoria Rd, EX54AB"
)


def test_a_staff_note_with_a_new_number_and_address_is_redacted_and_every_note_is_listed(
    world: World, tmp_path: Path
) -> None:
    store = Store(world.url)
    try:
        world.service(store).record_event(*NOAH, "medical_evidence_received", by="lead3",
                                          note=FINDING)  # fmt: skip
    finally:
        store.dispose()
    files = drafted(world, tmp_path / "noah", "pupil", *NOAH)
    for name, text in files.items():
        for secret in ("07700900248", "07700 900248", "29 Victoria Rd", "EX54AB"):
            assert secret not in text, (name, secret)
    assert "she now stays at [REDACTED: another person's postal address]" in files["draft.html"]
    review = files["REVIEW.md"]
    listed = [ln for ln in review.splitlines()
              if "**free text: read it for third parties before release**" in ln]  # fmt: skip
    # both notes: the one redacted, and the fixture's (names redacted, nothing by form)
    notes = [ln for ln in listed if "Attendance case" in ln and "(staff note)" in ln]
    assert len(notes) == 2, review
    assert "## Free text (" in review


def test_a_disabled_officer_is_refused_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    store = Store(world.url)
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE staff SET active = false WHERE username = 'dpo'")
    finally:
        store.dispose()
    out = tmp_path / "d"
    result = run(world, "subject-access", "pupil", *NOAH, "--out", str(out), "--by", "dpo")
    assert result.exit_code == 2, result.output
    assert "disabled" in result.output
    assert not out.exists()


def test_a_draft_is_readable_by_its_owner_only(world: World, tmp_path: Path) -> None:
    out = tmp_path / "private" / "noah"
    drafted(world, out, "pupil", *NOAH)
    assert out.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
        "draft.html": 0o600, "draft.pdf": 0o600, "draft.json": 0o600, "REVIEW.md": 0o600,
    }  # fmt: skip
