"""A prepared letter is addressed to the households of the pupil's contacts with parental
responsibility as known when it was prepared; a pupil without one gets a copy for the office to
address; a draft-only school's letters cannot be approved."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.clock import SimulatedClock
from escalation_flow.errors import ActionError
from escalation_flow.letters.addressing import Household
from escalation_flow.service import Service
from tests.daemon_builders import DAYS, SCHOOL, local, run_days, write_trust
from tests.service.conftest import STAFF
from tests.staff_builders import add_staff

HEADER = (
    "school,pupil,contact,name,relationship,parental_responsibility,lives_with_pupil,address,"
    "email,telephone,priority,may_be_contacted,recorded_at"
)
KNOWN = "2025-09-01T08:00:00+01:00"
CONTACTS = [
    f'{SCHOOL},P2,C-1,Ms Ana Lopes,mother,yes,yes,"4 Orchard Close, Oakham OK1 2AB",ana@example.org,,1,yes,{KNOWN}',
    f'{SCHOOL},P2,C-2,Mr Rui Lopes,father,yes,no,"Flat 2, 9 High Street, Uppingham UP1 1AA",,,2,yes,{KNOWN}',
    f'{SCHOOL},P2,C-3,Mrs Eva Lopes,grandmother,no,no,"1 Mill Lane, Oakham OK1 3CD",,,3,yes,{KNOWN}',
    # P1's only parent may not be contacted (a court order): no household is known
    f'{SCHOOL},P1,C-4,Mr Tom Test,father,yes,no,"3 Park Road, Oakham OK1 4EF",,,1,no,{KNOWN}',
    # the father moves after the letter was prepared: the letter keeps what was known then
    f'{SCHOOL},P2,C-2,Mr Rui Lopes,father,yes,no,"7 New Road, Stamford ST1 1AA",,,2,yes,2025-09-30T08:00:00+01:00',
]


def _service(tmp_path: Path, trust_extra: str = "") -> Service:
    trust_path = write_trust(tmp_path / "trust")
    if trust_extra:
        trust_path.write_text(trust_path.read_text("utf-8") + trust_extra, encoding="utf-8")
    trust = load_trust(trust_path)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.migrate()
    store.upsert_schools(trust)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("\n".join([HEADER, *CONTACTS]) + "\n", encoding="utf-8")
    at = local(date(2025, 10, 1), 9)
    store.import_contacts(read_contacts(contacts, set(trust.schools), now=at), now=at, by="test")
    clock = SimulatedClock(local(DAYS[0], 8))
    run_days(Service(store, trust, clock, worker="builder"), clock, tmp_path, DAYS)
    add_staff(str(store.engine.url), *STAFF)
    return Service(store, trust, SimulatedClock(local(DAYS[-1], 19)))


def _letter_of(service: Service, pupil: str) -> int:
    ids = [t.letter_id for t in service.tasks(SCHOOL) if t.pupil == pupil and t.letter_id]
    assert ids, f"{pupil} has a letter"
    return int(ids[0])


def test_a_letter_goes_to_each_household_as_known_when_it_was_prepared(tmp_path: Path) -> None:
    service = _service(tmp_path)
    letter = service.letter(_letter_of(service, "P2"))
    assert service.letter_copies(letter.id).households == (
        Household(("C-1",), ("Ms Ana Lopes",), "4 Orchard Close, Oakham OK1 2AB",
                  ("ana@example.org",)),
        Household(("C-2",), ("Mr Rui Lopes",), "Flat 2, 9 High Street, Uppingham UP1 1AA", ()),
    )  # fmt: skip  (the grandmother has no parental responsibility; the move came later)
    assert "Dear Ms Ana Lopes," in letter.html and "Pat TestP2, Year 3" in letter.html
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = service.letter_pdf(letter.id)
    text = subprocess.run([tool, "-", "-"], input=pdf, capture_output=True, check=True).stdout
    words = re.sub(r"\s+", " ", text.decode("utf-8"))
    assert "Dear Ms Ana Lopes," in words and "Dear Mr Rui Lopes," in words
    assert "9 High Street" in words and "New Road" not in words


def test_a_pupil_without_a_contact_to_write_to_gets_a_copy_for_the_office(tmp_path: Path) -> None:
    service = _service(tmp_path)
    letter = service.letter(_letter_of(service, "P1"))
    [copy] = service.letter_copies(letter.id).households
    assert copy.needs_address and copy.names == ()
    assert "Dear parent or carer of Pat TestP1," in letter.html


def test_a_draft_only_schools_letter_is_marked_and_cannot_be_approved(tmp_path: Path) -> None:
    service = _service(tmp_path, "    letters: draft-only\n")
    letter_id = _letter_of(service, "P2")
    letter = service.letter(letter_id)
    assert service.letter_copies(letter_id).draft and "DRAFT: NOT TO BE SENT" in letter.html
    with pytest.raises(ActionError, match="draft-only"):
        service.approve_letter(letter_id, by="s.head")
    assert service.letter(letter_id).status == "prepared"
