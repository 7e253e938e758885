"""The marks CSV is parsed as a stream, hashed on the way (issue 13): the sha256 recorded is
of the bytes parsed, and a message that quotes a line, which reads the file again, refuses a
file changed since it was parsed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.register_csv import read_columns
from escalation_flow.adapters.register_files import MARK_COLUMNS, REQUIRED_MARK_COLUMNS, read_marks
from escalation_flow.errors import RegisterError

CALENDARS = Path(__file__).resolve().parents[2] / "config" / "calendars"
HEADER = "school,pupil,date,session,code,minutes_late,recorded_at\n"


def _file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "marks.csv"
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def test_the_sha256_recorded_is_of_the_file_parsed(tmp_path: Path) -> None:
    rows = [f"oaks,P{i},2025-09-03,AM,/,,2025-09-03T09:00:00+01:00" for i in range(5000)]
    path = _file(tmp_path, *rows)
    calendar = load_calendar(CALENDARS / "england-2025-26.yaml")
    result = read_marks(path, {"oaks": calendar})
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.accepted == 5000


def test_lines_quoted_from_a_file_changed_after_parsing_are_refused(tmp_path: Path) -> None:
    # a blank line: the rows' line numbers must be worked out from the file's text
    path = _file(tmp_path, "oaks,P1,2025-09-03,AM,/,,", "", "oaks,P2,2025-09-03,AM,/,,")
    cols = read_columns(path, MARK_COLUMNS, REQUIRED_MARK_COLUMNS, RegisterError)
    assert cols.raw_rows([4])[4]["pupil"] == "P2" and cols.lines.tolist() == [2, 4]
    changed = read_columns(path, MARK_COLUMNS, REQUIRED_MARK_COLUMNS, RegisterError)
    path.write_text(HEADER + "oaks,P9,2025-09-03,AM,/,,\n", encoding="utf-8")
    with pytest.raises(RegisterError, match="changed while it was being imported"):
        _ = changed.lines
