"""The contacts CSV: all or nothing, every problem named by file, line and field."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from escalation_flow.adapters.contact_files import read_contacts, write_rejected
from escalation_flow.errors import RegisterError

NOW = datetime(2025, 12, 1, 9, tzinfo=UTC)
SCHOOLS = {"school-01", "school-02"}
HEAD = (
    "school,pupil,contact,name,relationship,parental_responsibility,lives_with_pupil,address,"
    "email,telephone,priority,may_be_contacted,recorded_at\n"
)


def write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text(HEAD + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = (
    'school-01,P1,C1,Ann Lee,mother,yes,yes,"1 Oak Lane, Town",ann@example.org,07700 900001,1,yes,'
    "2025-09-01T08:00:00+01:00"
)


def test_a_good_file_gives_one_version_per_row(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD, "100002,P9,C1,Ann Lee,mother,Yes,no,,,+44 7700 900001,,,"
    )
    result = read_contacts(path, SCHOOLS, now=NOW, aliases={"100002": "school-02"})
    first, second = (r.version for r in result.rows)
    assert (first.school, first.pupil, first.contact, first.priority) == ("school-01", "P1", "C1", 1)
    assert first.recorded_at == datetime(2025, 9, 1, 7, tzinfo=UTC)
    assert first.parental_responsibility and first.lives_with_pupil and first.may_be_contacted
    assert result.rows[0].dated and not result.rows[1].dated
    # no recorded_at: the import's time; the URN names its school
    assert (second.school, second.recorded_at, second.lives_with_pupil) == ("school-02", NOW, False)
    assert second.may_be_contacted is None


def test_a_bad_file_is_refused_whole_naming_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD,
        "school-09,P\u202e1,=C2,,mother,maybe,,,not-an-email,call me,0,perhaps,yesterday",
    )
    with pytest.raises(RegisterError) as caught:
        read_contacts(path, SCHOOLS, now=NOW)
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {
        (3, "school"), (3, "pupil"), (3, "contact"), (3, "name"), (3, "parental_responsibility"),
        (3, "email"), (3, "telephone"), (3, "priority"), (3, "may_be_contacted"), (3, "recorded_at"),
    }  # fmt: skip
    messages = [str(p) for p in caught.value.problems]
    assert f"{path}:3: pupil: 'P\\u202e1' holds an invisible or direction-changing character" in messages
    assert f"{path}:3: contact: '=C2' starts with '=', which a spreadsheet takes as a formula" in messages


def test_a_name_with_a_direction_changing_character_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "school-01,P1,C1,Ann \u202eeeL,mother,yes,,,,,,,")
    with pytest.raises(RegisterError) as caught:
        read_contacts(path, SCHOOLS, now=NOW)
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "name")]


def test_skip_invalid_keeps_the_good_rows_and_writes_the_bad_ones_neutralised(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, GOOD, 'school-01,P2,C2,"=HYPERLINK(""http://x"")",mother,no way,,,,,,,')
    result = read_contacts(path, SCHOOLS, now=NOW, skip_invalid=True)
    assert [r.version.pupil for r in result.rows] == ["P1"]
    assert [(r.line, r.reasons) for r in result.rejected] == [
        (3, ("parental_responsibility: 'no way' is not yes or no",))
    ]
    with write_rejected(result).open(encoding="utf-8") as f:
        rejected = list(csv.reader(f))
    assert rejected[1][3] == "'=HYPERLINK(\"http://x\")"  # shown by a spreadsheet, not run


def test_a_row_repeated_exactly_is_dropped_and_one_contradicting_it_is_refused(
    tmp_path: Path,
) -> None:
    assert read_contacts(write(tmp_path, GOOD, GOOD), SCHOOLS, now=NOW).duplicates == 1
    other = GOOD.replace("07700 900001", "07700 900002")
    with pytest.raises(RegisterError) as caught:
        read_contacts(write(tmp_path, GOOD, other), SCHOOLS, now=NOW)
    assert [(p.line, p.field) for p in caught.value.problems] == [(3, "contact")]


def test_a_recorded_at_in_the_future_or_without_offset_is_refused(tmp_path: Path) -> None:
    future = GOOD.replace("2025-09-01T08:00:00+01:00", "2026-09-01T08:00:00+01:00")
    naive = GOOD.replace("2025-09-01T08:00:00+01:00", "2025-09-01T08:00:00")
    with pytest.raises(RegisterError) as caught:
        read_contacts(write(tmp_path, future, naive.replace("C1", "C2")), SCHOOLS, now=NOW)
    assert [(p.line, p.field) for p in caught.value.problems] == [
        (2, "recorded_at"), (3, "recorded_at"),
    ]  # fmt: skip


def test_a_file_without_a_required_column_is_refused_at_line_one(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("school,pupil,contact,name\nschool-01,P1,C1,Ann\n", encoding="utf-8")
    with pytest.raises(RegisterError) as caught:
        read_contacts(path, SCHOOLS, now=NOW)
    assert "relationship" in str(caught.value) + " ".join(map(str, caught.value.problems))
