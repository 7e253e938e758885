"""Calendar files: the bundled calendars with bank holidays folded in, and errors by line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.errors import CalendarError

CALENDARS = Path(__file__).resolve().parents[2] / "config" / "calendars"
BOTH_YEARS = [CALENDARS / "england-2026-27.yaml", CALENDARS / "england-2025-26.yaml"]


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2027, 3, 26), "a bank holiday"),  # Good Friday 2027 falls on the last day of term
        (date(2027, 5, 3), "a bank holiday"),  # Early May bank holiday
        (date(2026, 5, 4), "a bank holiday"),
        (date(2026, 11, 27), "a closure"),  # an INSET day from the file
    ],
)
def test_bank_holidays_in_term_are_not_school_days(day: date, why: str) -> None:
    calendar = load_calendar(BOTH_YEARS)
    assert not calendar.is_school_day(day)
    with pytest.raises(CalendarError, match=why):
        calendar.day_index(day)


def test_years_given_in_any_order_make_one_calendar_in_date_order() -> None:
    calendar = load_calendar(BOTH_YEARS)
    assert calendar.name == "england-2025-26..england-2026-27"
    assert calendar.first_day == date(2025, 9, 3)
    assert calendar.last_day == date(2027, 7, 20)  # 21 July 2027 is an INSET day
    assert calendar.add_school_days(date(2027, 3, 25), 1) == date(2027, 4, 12)  # over Easter


def test_the_version_changes_with_the_files(tmp_path: Path) -> None:
    copy = tmp_path / "england-2025-26.yaml"
    text = (CALENDARS / "england-2025-26.yaml").read_text(encoding="utf-8")
    copy.write_text(text, encoding="utf-8")
    same = load_calendar(copy).version
    copy.write_text(text.replace("  - 2026-07-20\n", "  - 2026-07-17\n"), encoding="utf-8")
    assert load_calendar(copy).version != same
    assert load_calendar(CALENDARS / "england-2025-26.yaml").version == same


def test_every_problem_in_a_calendar_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"  # 1
        "timezone: Mars/Olympus\n"  # 2
        "terms:\n"  # 3
        "  - name: autumn\n"  # 4
        "    start: 2025-09-03\n"  # 5
        "    end: 2025-12-19\n"  # 6
        "    half_term: [2026-10-27, 2026-10-31]\n"  # 7
        "  - name: winter\n"  # 8
        "    start: 2026-01-05\n"  # 9
        "    end: 2026-03-27\n"  # 10
        "  - name: summer\n"  # 11
        "    start: 2026-04-13\n"  # 12
        "    end: 2026-07-21\n"  # 13
        "closures: [2026-08-10]\n"  # 14
        "holidays: []\n",  # 15
        encoding="utf-8",
    )
    with pytest.raises(CalendarError) as raised:
        load_calendar(path)
    where = {(p.line, p.field) for p in raised.value.problems}
    assert where == {
        (2, "timezone"),
        (7, "terms[0].half_term"),
        (8, "terms[1].name"),
        (14, "closures[0]"),
        (15, "holidays"),
    }
    assert "2026-08-10 is in no term" in str(raised.value)


def test_an_impossible_date_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nterms:\n  - name: autumn\n    start: 2025-09-31\n    end: 2025-12-19\n",
        encoding="utf-8",
    )
    with pytest.raises(CalendarError) as raised:
        load_calendar(path)
    assert [str(p) for p in raised.value.problems] == [f"{path}:4: 2025-09-31 is not a date"]


def test_a_calendar_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nterms: [\n  - a\n", encoding="utf-8")
    with pytest.raises(CalendarError) as raised:
        load_calendar(path)
    assert raised.value.problems[0].line is not None
