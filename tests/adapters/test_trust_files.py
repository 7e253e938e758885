"""The trust file: schools with their flow, calendars and overrides; every problem by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.errors import NotFoundError, TrustConfigError

REPO = Path(__file__).resolve().parents[2]
CALENDAR = REPO / "config" / "calendars" / "england-2025-26.yaml"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "oaks.yaml").write_text("", encoding="utf-8")
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "y1.yaml").write_text(CALENDAR.read_text(), encoding="utf-8")
    (tmp_path / "trusts").mkdir()
    return tmp_path


def trust_file(folder: Path, text: str) -> Path:
    path = folder / "trusts" / "trust.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
name: sample-trust
timezone: Europe/London
schools:
  - id: oaks
    name: Leigh Academy Oaks
    urn: "100001"
    flow: ../flows/oaks.yaml
    calendars: [../calendars/y1.yaml]
    registers_close_at: "16:30"
    overrides:
      min_possible_sessions: 20
      bands: {low: 90}
  - id: pines
    name: Pines Primary
    flow: ../flows/oaks.yaml
    calendars: ../calendars/y1.yaml
"""


def test_a_trust_file_names_its_schools_with_paths_relative_to_itself(folder: Path) -> None:
    trust = load_trust(trust_file(folder, GOOD))
    assert (trust.name, trust.timezone) == ("sample-trust", "Europe/London")
    oaks = trust.schools["oaks"]
    assert oaks.urn == "100001"
    assert oaks.flow_path == (folder / "flows" / "oaks.yaml").resolve()
    assert oaks.calendar_paths == ((folder / "calendars" / "y1.yaml").resolve(),)
    assert oaks.registers_close_at == "16:30"
    assert oaks.overrides == {"min_possible_sessions": 20, "bands": {"low": 90}}
    pines = trust.schools["pines"]
    assert (pines.urn, pines.registers_close_at, pines.overrides) == (None, None, {})


def test_a_school_is_found_by_id_or_urn(folder: Path) -> None:
    trust = load_trust(trust_file(folder, GOOD))
    assert trust.resolve_school("oaks") == trust.resolve_school("100001") == "oaks"
    assert trust.aliases == {"100001": "oaks"}
    with pytest.raises(NotFoundError, match="no school 'elms' in trust sample-trust"):
        trust.resolve_school("elms")


def test_calendars_load_on_first_use_and_are_shared(folder: Path) -> None:
    trust = load_trust(trust_file(folder, GOOD))
    assert trust.calendar("100001") is trust.calendar("pines")
    assert trust.calendars()["oaks"].first_day.isoformat() == "2025-09-03"


def test_every_problem_in_a_trust_file_is_reported_with_its_line(folder: Path) -> None:
    path = trust_file(
        folder,
        """\
name: t
timezone: Europe/Londres
colour: blue
schools:
  - id: oaks
    name: Oaks
    urn: "100001"
    flow: ../flows/missing.yaml
    calendars: [../calendars/y1.yaml, ../calendars/y9.yaml]
    registers_close_at: "4pm"
    overrides: {min_possible_sessions: twenty}
  - id: oaks
    name: Oaks again
    flow: ../flows/oaks.yaml
    calendars: [../calendars/y1.yaml]
    shoe_size: 9
  - id: elms
    urn: "100001"
    flow: ../flows/oaks.yaml
    calendars: []
""",
    )
    with pytest.raises(TrustConfigError) as raised:
        load_trust(path)
    where = [(p.line, p.field) for p in raised.value.problems]
    assert where == [
        (2, "timezone"),
        (3, "colour"),
        (8, "schools[0].flow"),
        (9, "schools[0].calendars"),
        (10, "schools[0].registers_close_at"),
        (11, "schools[0].overrides"),
        (12, "schools[1].id"),
        (16, "schools[1].shoe_size"),
        (17, "schools[2].name"),
        (18, "schools[2].urn"),
        (20, "schools[2].calendars"),
    ]
    text = str(raised.value)
    assert "no such file: ../flows/missing.yaml" in text
    assert "no such file: ../calendars/y9.yaml" in text
    assert "'4pm' is not a time HH:MM" in text
    assert "'oaks' is already used by the school on line 5" in text


def test_the_bundled_sample_trust_loads() -> None:
    sample = REPO / "config" / "sample-trust" / "trust.yaml"
    if not sample.exists():
        pytest.skip("no sample trust in this checkout")
    trust = load_trust(sample)
    assert trust.schools
    assert all(s.flow_path.name.endswith(".yaml") for s in trust.schools.values())


def test_penalty_notices_are_set_for_the_trust_and_replaced_by_a_school(folder: Path) -> None:
    text = GOOD.replace(
        "schools:\n",
        "penalty_notices: {issued_by: local_authority, local_code: \"the county's code\"}\nschools:\n",
    ).replace(
        "    registers_close_at: \"16:30\"\n",
        "    registers_close_at: \"16:30\"\n"
        "    penalty_notices: {issued_by: head_teacher_or_local_authority}\n",
    )
    trust = load_trust(trust_file(folder, text))
    assert trust.schools["oaks"].penalty_notices == {"issued_by": "head_teacher_or_local_authority"}
    assert trust.schools["pines"].penalty_notices == {
        "issued_by": "local_authority", "local_code": "the county's code"
    }


def test_a_school_without_penalty_notices_gets_the_general_wording(folder: Path) -> None:
    assert load_trust(trust_file(folder, GOOD)).schools["oaks"].penalty_notices is None


def test_penalty_notices_issued_by_someone_else_is_refused_by_line(folder: Path) -> None:
    text = GOOD.replace(
        "    registers_close_at: \"16:30\"\n",
        "    registers_close_at: \"16:30\"\n    penalty_notices: {issued_by: head_teacher}\n",
    )
    with pytest.raises(TrustConfigError) as caught:
        load_trust(trust_file(folder, text))
    problem = caught.value.problems[0]
    assert problem.field == "schools[0].penalty_notices"
    assert "head_teacher_or_local_authority" in problem.message and problem.line == 10


# -- what letters print: required where the flow sends letters ----------------------------------

LETTER_FLOW = """\
id: letters
states:
  letter_due:
    tasks:
      - id: first_letter
        kind: letter   # a task that sends a letter
        template: first_reminder_letter
"""

DETAILS = """\
    address: ["1 Oak Lane", "Oakham", "OK1 1AA"]
    phone: "01632 960 001"
    email: office@oaks.example.org
    attendance_contact: {name: Mrs J. Patel, role: Attendance Lead}
    signatory: {name: Mr D. Okafor, role: Head Teacher}
"""


def _letter_school(folder: Path, extra: str) -> Path:
    (folder / "flows" / "letters.yaml").write_text(LETTER_FLOW, encoding="utf-8")
    return trust_file(
        folder,
        "name: t\nschools:\n  - id: oaks\n    name: Leigh Academy Oaks\n"
        "    flow: ../flows/letters.yaml\n    calendars: [../calendars/y1.yaml]\n" + extra,
    )


def test_a_school_that_sends_letters_gives_every_detail_a_letter_prints(folder: Path) -> None:
    oaks = load_trust(_letter_school(folder, DETAILS)).schools["oaks"]
    assert oaks.address == ("1 Oak Lane", "Oakham", "OK1 1AA")
    assert (oaks.phone, oaks.email) == ("01632 960 001", "office@oaks.example.org")
    assert oaks.attendance_contact == {"name": "Mrs J. Patel", "role": "Attendance Lead"}
    assert oaks.signatory == {"name": "Mr D. Okafor", "role": "Head Teacher"}
    assert oaks.letters_draft_only is False


@pytest.mark.parametrize("dropped", ["address", "phone", "email", "attendance_contact", "signatory"])
def test_a_school_that_sends_letters_without_a_detail_is_refused_naming_file_and_school(
    folder: Path, dropped: str
) -> None:
    details = "".join(line + "\n" for line in DETAILS.splitlines() if dropped + ":" not in line)
    path = _letter_school(folder, details)
    with pytest.raises(TrustConfigError) as caught:
        load_trust(path)
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert "'oaks' (Leigh Academy Oaks) sends letters" in problem.message
    assert dropped in problem.message and "letters: draft-only" in problem.message


def test_a_school_whose_letters_are_drafts_only_may_leave_its_details_out(folder: Path) -> None:
    oaks = load_trust(_letter_school(folder, "    letters: draft-only\n")).schools["oaks"]
    assert oaks.letters_draft_only is True
    assert oaks.phone is None and oaks.signatory is None


def test_a_school_whose_flow_sends_no_letters_needs_no_letter_details(folder: Path) -> None:
    assert load_trust(trust_file(folder, GOOD)).schools["oaks"].phone is None


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("    letters: sometimes\n", "letters"),
        ("    signatory: {name: Mr D. Okafor}\n", "signatory"),  # a role is printed too
        ("    attendance_contact: Mrs J. Patel\n", "attendance_contact"),
    ],
)
def test_a_wrong_letters_value_or_a_person_without_a_role_is_refused(
    folder: Path, line: str, field: str
) -> None:
    details = "".join(x + "\n" for x in DETAILS.splitlines() if field + ":" not in x)
    with pytest.raises(TrustConfigError) as caught:
        load_trust(_letter_school(folder, details + line))
    assert any(p.field == f"schools[0].{field}" for p in caught.value.problems)


def test_the_sample_trust_gives_every_school_its_letter_details() -> None:
    trust = load_trust(REPO / "config" / "sample-trust" / "trust.yaml")
    for school in trust.schools.values():
        assert school.address and school.phone and school.email
        assert school.attendance_contact and school.signatory
        assert not school.letters_draft_only
