"""A byte that is not UTF-8 in one row (a recorded_by name exported as Windows-1252) is
refused naming its line and field, as every other check does, and ``--skip-invalid`` imports
the rows around it (the refused row written out with the byte shown as U+FFFD)."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.core.calendar import SchoolCalendar
from tests.adapters.test_register_files import GOOD, HEADER, calendar, calendars, read

__all__ = ["calendar", "calendars"]

LATIN1 = "oaks,P2,2025-09-03,AM,/,,2025-09-03T08:50:00+01:00,Zo\xeb Smith"


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "marks.csv"
    text = "\n".join(
        [HEADER + ",recorded_by", GOOD + ",a", LATIN1, GOOD.replace("P1", "P3") + ",b"]
    )
    path.write_bytes((text + "\n").encode("latin-1"))
    return path


def test_a_row_that_is_not_utf8_is_named_by_line_and_column(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    from escalation_flow.errors import RegisterError

    with pytest.raises(RegisterError) as raised:
        read(_file(tmp_path), calendars)
    problems = raised.value.problems
    assert [(p.line, p.field) for p in problems] == [(3, "recorded_by")], [str(p) for p in problems]


def test_skip_invalid_imports_the_rows_around_one_that_is_not_utf8(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    result = read(_file(tmp_path), calendars, skip_invalid=True)
    assert (result.rows_read, result.accepted) == (3, 2)
    (rejected,) = result.rejected
    assert rejected.line == 3
    assert rejected.reasons == ("is not UTF-8 (save the export as UTF-8)",)
    assert sorted(result.tables["oaks"].pupils) == ["P1", "P3"]
