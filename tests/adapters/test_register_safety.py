"""Identifiers, excerpts and CSV cells from hostile register files (issue 14, items 3 and 5):
ids that could leave a folder or run in a spreadsheet are refused at import, naming file, line and
value; a bad value is quoted only by its start; every CSV the service writes is neutralised."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import pytest

from escalation_flow.adapters.csv_safety import excerpt, file_part, id_problem, neutralise
from escalation_flow.adapters.register_files import read_marks, read_roster, write_rejected
from escalation_flow.audit.export import default_name
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.errors import RegisterError
from tests.adapters.test_register_files import ROSTER_HEADER, calendar, calendars, write

__all__ = ["calendar", "calendars"]  # the fixtures, shared

HOSTILE_IDS = (
    "../../etc/passwd", "a/b", "P1\x00", '=HYPERLINK("x")', "+1", "-P1", "@SUM(A1)",
    "P1\u202e2P", "P\u200b1",  # a right-to-left override; a zero-width space
)


def cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.mark.parametrize("pupil", HOSTILE_IDS)
def test_a_hostile_pupil_id_in_marks_is_refused_naming_file_line_and_value(
    tmp_path: Path, calendars: dict[str, SchoolCalendar], pupil: str
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-03,AM,/,,", f"oaks,{cell(pupil)},2025-09-03,PM,/,,")
    with pytest.raises(RegisterError) as raised:
        read_marks(path, calendars)
    problems = [str(p) for p in raised.value.problems]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:3: pupil: "), problems
    assert repr(pupil)[1:6] in problems[0]


@pytest.mark.parametrize("pupil", ["../escape", "P1\x00", "=cmd|' /C calc'!A0"])
def test_a_hostile_pupil_id_in_a_roster_is_refused(tmp_path: Path, pupil: str) -> None:
    path = write(tmp_path, f"oaks,{cell(pupil)},Ava,Wood,3,,,", header=ROSTER_HEADER, name="r.csv")
    with pytest.raises(RegisterError) as raised:
        read_roster(path, {"oaks"})
    assert [p.field for p in raised.value.problems] == ["pupil"]
    assert raised.value.problems[0].line == 2


def test_ordinary_mis_ids_are_accepted() -> None:
    assert [id_problem(v) for v in ("S01-P0001", "A123456789012", "P.1_x")] == [None] * 3


def test_every_ascii_character_is_judged_as_by_its_unicode_category() -> None:
    # ids in ASCII skip asking each character's category: only controls have one refused
    for code in range(128):
        value = f"P{chr(code)}1"
        invisible = unicodedata.category(chr(code)) in ("Cc", "Cf", "Co", "Cs")
        assert (id_problem(value) is not None) >= invisible
        if invisible:
            assert "control character" in str(id_problem(value))
    assert "invisible" in str(id_problem("P\u200b1"))  # a zero-width space: not ASCII


def test_a_two_megabyte_value_is_quoted_only_by_its_start(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    huge = "9" * 2_000_000
    path = write(tmp_path, f"oaks,P1,{huge},AM,/,,", f"oaks,P1,2025-09-03,{huge},/,,")
    with pytest.raises(RegisterError) as raised:
        read_marks(path, calendars)
    assert len(str(raised.value)) < 1_000
    assert excerpt(huge) in str(raised.value)


def test_formula_like_cells_are_neutralised_and_plain_numbers_kept() -> None:
    assert [neutralise(v) for v in ("=1+1", "+44 1234", "-x", "@A1", "\tx", "-3", "2.5", 7)] == [
        "'=1+1", "'+44 1234", "'-x", "'@A1", "'\tx", "-3", "2.5", 7,
    ]  # fmt: skip


def test_the_rejected_rows_file_neutralises_formula_like_values(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-03,AM,/,,", "oaks,=HYPERLINK(1),2025-09-03,AM,/,,")
    result = read_marks(path, calendars, skip_invalid=True)
    rows = list(csv.reader(write_rejected(result).open(encoding="utf-8")))
    assert rows[1][:2] == ["oaks", "'=HYPERLINK(1)"]


def test_a_case_file_name_cannot_leave_the_current_folder() -> None:
    for school, pupil in (("school-01", "../../tmp/x"), ("..", "/etc/passwd"), ("a", "..")):
        name = default_name(school, pupil, "csv")
        assert name.parent == Path() and "/" not in str(name) and ".." not in str(name)
    assert default_name("school-01", "S01-P0001", "pdf") == Path(
        "school-01-S01-P0001-case-file.pdf"
    )
    assert file_part("..") == "_"
