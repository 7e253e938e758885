"""Contacts and siblings as staff meet them: ``import contacts``, ``contacts show``, ``case
show``, ``case export`` and the case page, each respecting who is looking (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import NOW, TRUST_DIR, World, new_world

#: Ava Wood (school-01, Year 3, the class teacher's) and Mason Wood (school-02) share a mother
AVA, MASON = ("school-01", "S01-P0001"), ("school-02", "S02-P0002")
HIDDEN = "a sibling at another school in the trust"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


def run(world: World, *args: str, now: datetime = NOW) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
    }
    return CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(now)))


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def test_a_class_teacher_at_school_a_sees_no_details_of_a_sibling_at_school_b_on_the_page(
    client: TestClient,
) -> None:
    assert login(client, "teacher") == 303
    page = client.get("/schools/school-01/pupils/S01-P0001")
    assert page.status_code == 200
    assert "A sibling at another school in the trust" in page.text
    assert "Mason" not in page.text and "S02-P0002" not in page.text
    assert "Beth Wood" in page.text  # the pupil's own parent, whom the teacher may contact


def test_the_trust_attendance_team_sees_the_sibling_at_the_other_school_on_the_page(
    client: TestClient,
) -> None:
    assert login(client, "trust") == 303
    page = client.get("/schools/school-01/pupils/S01-P0001")
    assert page.status_code == 200
    assert "Mason Wood" in page.text and "/schools/school-02/pupils/S02-P0002" in page.text
    assert HIDDEN not in page.text.lower()


def test_case_show_lists_siblings_as_the_member_of_staff_named_may_see_them(world: World) -> None:
    as_teacher = run(world, "case", "show", *AVA, "--as", "teacher")
    assert as_teacher.exit_code == 0, as_teacher.output
    assert as_teacher.stdout.endswith(f"siblings:\n  {HIDDEN}\n")
    assert "Mason" not in as_teacher.stdout
    as_team = run(world, "case", "show", *AVA, "--as", "trust")
    assert "  Mason Wood (S02-P0002) at school-02, year 3, born 2018-06-13: attendance 85.7%" in (
        as_team.stdout
    )
    assert "through Beth Wood" in as_team.stdout
    assert run(world, "case", "show", *AVA, "--as", "lead3").exit_code == 2  # not their school
    assert run(world, "case", "show", *AVA, "--as", "nobody").exit_code == 2
    # a class teacher reads only the year groups they teach (S01-P0029 is in Year 2)
    assert run(world, "case", "show", "school-01", "S01-P0029", "--as", "teacher").exit_code == 2


def test_the_case_file_names_everyone_with_parental_responsibility_and_the_siblings(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "cf.json"
    result = run(world, "case", "export", "school-03", "S03-P0005", "--format", "json",
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    cf = json.loads(out.read_text(encoding="utf-8"))
    assert [p.split(" (")[0] for p in cf["parents"]] == ["[1] Anna Kowalski", "[2] Piotr Kowalski"]
    assert "lives elsewhere" in cf["parents"][1]  # separated parents, both responsible
    assert cf["siblings"][0].startswith("Ethan Kowalski (S04-P0006) at school-04, year 10")
    run(world, "case", "export", "school-03", "S03-P0005", "--format", "json",
        "--out", str(out), "--as", "lead3")  # fmt: skip
    assert json.loads(out.read_text(encoding="utf-8"))["siblings"] == [HIDDEN]


HEAD = (
    "school,pupil,contact,name,relationship,parental_responsibility,lives_with_pupil,address,"
    "email,telephone,priority,may_be_contacted,recorded_at\n"
)


def test_import_contacts_keeps_every_version_and_answers_as_known_at(
    world: World, tmp_path: Path
) -> None:
    first = tmp_path / "contacts.csv"
    first.write_text(HEAD + "school-05,S05-T0001,X1,Jo Bloggs,father,yes,no,,,07700 900001,,,\n",
                     encoding="utf-8")  # fmt: skip
    result = run(world, "import", "contacts", str(first))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{first}: 1 rows read, 1 new version(s), 0 already known")
    again = run(world, "import", "contacts", str(first))
    assert f"{first}: 1 rows read, 0 new version(s), 1 already known" in again.stdout
    amended = tmp_path / "amended.csv"
    amended.write_text(
        HEAD + "school-05,S05-T0001,X1,Jo Bloggs,father,yes,no,,,07700 900002,,,"
        "2025-10-20T09:00:00+01:00\n",
        encoding="utf-8",
    )
    later = datetime(2025, 11, 3, 18, tzinfo=UTC)
    assert run(world, "import", "contacts", str(amended), now=later).exit_code == 0
    now = run(world, "contacts", "show", "school-05", "S05-T0001", now=later)
    assert "07700 900002" in now.stdout and "07700 900001" not in now.stdout
    then = run(world, "contacts", "show", "school-05", "S05-T0001", "--known-at",
               "2025-10-15T00:00:00+00:00", now=later)  # fmt: skip
    assert "07700 900001" in then.stdout  # what was known before the amendment was recorded


def test_a_bad_contacts_file_is_refused_whole_and_skip_invalid_keeps_the_good_rows(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        HEAD
        + "school-05,S05-T0002,X2,Al Smith,father,yes,,,,,,,\n"
        + "school-05,S05-T0003,@X3,Bo Smith,mother,sometimes,,,,,,,\n",
        encoding="utf-8",
    )
    refused = run(world, "import", "contacts", str(path))
    assert refused.exit_code == 2
    assert f"{path}:3: contact: '@X3' starts with '@'" in refused.output
    assert f"{path}:3: parental_responsibility: 'sometimes' is not yes or no" in refused.output
    assert "no contacts known" in run(world, "contacts", "show", "school-05", "S05-T0002").stdout
    kept = run(world, "import", "contacts", str(path), "--skip-invalid")
    assert kept.exit_code == 0, kept.output
    assert "1 new version(s), 0 already known, 1 rejected" in kept.stdout
    rejected = path.with_suffix(".rejected.csv").read_text(encoding="utf-8")
    assert "'@X3" in rejected  # neutralised for spreadsheets
    assert "Al Smith" in run(world, "contacts", "show", "school-05", "S05-T0002").stdout


def test_the_panel_meeting_page_has_everyone_with_parental_responsibility_and_every_sibling(
    world: World, client: TestClient
) -> None:
    # Oliver Begum (school-04, plan 003) goes to stage 2, whose first step is the panel meeting
    service = world.service()
    service.override("school-04", "S04-P0004", 2, "panel agreed", "trust")
    assert service.case("school-04", "S04-P0004").state == "stage_2.panel_meeting"
    assert login(client, "trust") == 303
    page = client.get("/schools/school-04/pupils/S04-P0004").text
    assert "For the attendance panel meeting" in page
    family = page[page.index('id="family-h"') :]
    for who in ("Shirin Begum", "Tariq Ali", "born on Fri 24 Aug 2012"):  # parents; his birth
        assert who in family
    # his half-sister through their mother, and her half-sister through his father
    assert "Emily Begum" in family and "Isla Ali" in family
    assert "school-03" in family and "school-02" in family
