"""Input values that used to pass silently (issue 14, item 8): two terms of one name,
overlapping terms, a ``recorded_at`` before its mark's day or far in the future, and flow, trust
and calendar files that are not UTF-8. Each is refused naming file, line and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from escalation_flow.adapters.calendar_files import load_year
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.errors import CalendarError, FlowError, InputError, TrustConfigError
from tests.adapters.test_register_files import calendar, calendars, write

__all__ = ["calendar", "calendars"]  # the fixtures, shared

ROOT = Path(__file__).resolve().parents[2]
CALENDAR = (ROOT / "config" / "calendars" / "england-2025-26.yaml").read_text(encoding="utf-8")
NOW = datetime(2025, 9, 10, 17, 0, tzinfo=UTC)


def problems(error: InputError) -> list[tuple[int | None, str | None, str]]:
    return [(p.line, p.field, p.message) for p in error.problems]


def test_two_terms_of_one_name_are_refused_at_the_second(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text(CALENDAR.replace("name: spring", "name: autumn"), encoding="utf-8")
    with pytest.raises(CalendarError) as raised:
        load_year(path)
    found = problems(raised.value)
    assert (11, "terms[1].name", "a second autumn term (the first is on line 7)") in found


def test_overlapping_terms_name_the_line_of_the_later_term(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text(CALENDAR.replace("start: 2026-01-05", "start: 2025-12-15"), encoding="utf-8")
    with pytest.raises(CalendarError) as raised:
        load_year(path)
    [(line, field, message)] = problems(raised.value)
    assert (line, field) == (11, "terms")
    assert message.startswith("spring starts (2025-12-15) before autumn ends (2025-12-19)")


def test_a_mark_recorded_before_its_own_day_is_refused(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-04,AM,/,,2025-09-02T09:00:00+01:00")
    with pytest.raises(InputError) as raised:
        read_marks(path, calendars)
    [(line, field, message)] = problems(raised.value)
    assert (line, field) == (2, "recorded_at")
    assert "before the mark's own day" in message


def test_a_mark_recorded_far_in_the_future_is_refused_when_the_import_knows_its_clock(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(
        tmp_path,
        "oaks,P1,2025-09-04,AM,/,,2025-09-04T09:00:00+01:00",
        "oaks,P1,2025-09-04,PM,/,,2031-01-01T09:00:00+00:00",
    )
    with pytest.raises(InputError) as raised:
        read_marks(path, calendars, now=NOW)
    [(line, field, message)] = problems(raised.value)
    assert (line, field) == (3, "recorded_at")
    assert "more than a day after this import" in message
    assert read_marks(path, calendars).accepted == 2  # a backtest reads the past: no clock


def test_odd_recorded_at_can_be_let_through_with_a_warning(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(
        tmp_path,
        "oaks,P1,2025-09-04,AM,/,,2025-09-02T09:00:00+01:00",
        "oaks,P1,2025-09-04,PM,/,,2031-01-01T09:00:00+00:00",
    )
    result = read_marks(path, calendars, now=NOW, odd_recorded_at="warn")
    assert result.accepted == 2
    assert [(p.line, p.field) for p in result.warnings] == [(2, "recorded_at"), (3, "recorded_at")]


LATIN1 = "name: Caf\xe9 calendar\n".encode("latin-1")


def test_a_calendar_that_is_not_utf8_is_refused_naming_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_bytes(b"# a calendar\n" + LATIN1 + CALENDAR.split("\n", 4)[-1].encode())
    with pytest.raises(CalendarError) as raised:
        load_year(path)
    [(line, field, message)] = problems(raised.value)
    assert (line, field) == (2, "name")
    assert "byte 0xe9 at column 10 is not UTF-8" in message


def test_a_flow_that_is_not_utf8_is_refused_not_repaired(tmp_path: Path) -> None:
    text = (ROOT / "flows" / "leigh-academy-oaks.yaml").read_bytes()
    path = tmp_path / "flow.yaml"
    path.write_bytes(text.replace(b"\n", b"\n# caf\xe9\n", 1))
    with pytest.raises(FlowError) as raised:
        load_flow(path)
    [(line, _, message)] = problems(raised.value)
    assert line == 2 and "is not UTF-8" in message


def test_a_trust_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trust.yaml"
    path.write_bytes(b"name: Tr\xfcst\ntimezone: Europe/London\nschools: []\n")
    with pytest.raises(TrustConfigError) as raised:
        load_trust(path)
    assert problems(raised.value)[0][:2] == (1, "name")
