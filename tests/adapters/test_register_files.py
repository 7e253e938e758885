"""Register marks and roster files: what is read, and every way a row can be refused."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.register_files import (
    MarksRead,
    OneCalendar,
    _renumbered,
    read_marks,
    read_roster,
    rejected_path,
    write_rejected,
)
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE
from escalation_flow.core.marks import UNKNOWN_RECORDED_AT, PupilRecord, to_micros
from escalation_flow.errors import RegisterError

CALENDARS = Path(__file__).resolve().parents[2] / "config" / "calendars"
HEADER = "school,pupil,date,session,code,minutes_late,recorded_at"
GOOD = "oaks,P1,2025-09-03,AM,/,,2025-09-03T08:50:00+01:00"


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_calendar(CALENDARS / "england-2025-26.yaml")


@pytest.fixture(scope="module")
def calendars(calendar: SchoolCalendar) -> dict[str, SchoolCalendar]:
    return {"oaks": calendar, "pines": calendar}


def write(tmp_path: Path, *lines: str, header: str = HEADER, name: str = "marks.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def read(path: Path, calendars: dict[str, SchoolCalendar], **options: object) -> MarksRead:
    return read_marks(path, calendars, aliases={"100001": "oaks"}, **options)  # type: ignore[arg-type]


def problems_of(path: Path, calendars: dict[str, SchoolCalendar], **options: object) -> list[str]:
    with pytest.raises(RegisterError) as raised:
        read(path, calendars, **options)
    return [str(p) for p in raised.value.problems]


def test_a_good_file_gives_one_table_per_school(
    tmp_path: Path, calendars: dict[str, SchoolCalendar], calendar: SchoolCalendar
) -> None:
    path = write(
        tmp_path,
        "oaks,P2,2025-09-03,AM,L,12,2025-09-03T09:20:00+01:00,ignored",
        "oaks,P1,2025-09-03,PM,N,,2025-09-03T13:30:00Z,ignored",
        "100001,P2,2025-09-04,PM,C1,,,ignored",
        "pines,Q1,2025-09-04,AM,#,,2025-09-04T08:00:00+01:00,ignored",
        header=HEADER + ",note",
    )
    result = read(path, calendars)
    assert (result.rows_read, result.accepted, result.rejected) == (4, 4, [])
    oaks = result.tables["oaks"]
    assert oaks.pupils == ("P2", "P1")
    assert oaks.pupil.tolist() == [0, 1, 0]
    assert oaks.session.tolist() == [0, 1, 3]
    assert oaks.code.tolist() == [ID_OF_CODE["L"], ID_OF_CODE["N"], ID_OF_CODE["C1"]]
    assert oaks.minutes_late.tolist() == [12, -1, -1]
    assert oaks.recorded_at.tolist() == [
        to_micros(datetime(2025, 9, 3, 8, 20, tzinfo=UTC)),
        to_micros(datetime(2025, 9, 3, 13, 30, tzinfo=UTC)),
        UNKNOWN_RECORDED_AT,
    ]
    assert result.tables["pines"].pupils == ("Q1",)
    assert result.calendars == {"oaks": calendar, "pines": calendar}
    assert len(result.sha256) == 64


def test_optional_columns_may_be_left_out(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-03,AM,I", header="code,session,date,pupil,school")
    path.write_text("code,session,date,pupil,school\nI,AM,2025-09-03,P1,oaks\n", encoding="utf-8")
    table = read(path, calendars).tables["oaks"]
    assert table.recorded_at.tolist() == [UNKNOWN_RECORDED_AT]
    assert table.minutes_late.tolist() == [-1]
    assert (table.recorded_by, table.recorders, table.recorder(0)) == (None, (), None)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("elms,P1,2025-09-03,AM,/,,", "school: 'elms' is not a school of this trust (oaks, pines)"),
        (",P1,2025-09-03,AM,/,,", "school: is empty"),
        ("oaks,,2025-09-03,AM,/,,", "pupil: is empty"),
        ("oaks,P1,2025-9-3,AM,/,,", "date: '2025-9-3' is not a date (YYYY-MM-DD)"),
        ("oaks,P1,2025-02-30,AM,/,,", "date: '2025-02-30' is not a date (YYYY-MM-DD)"),
        ("oaks,P1,2025-10-29,AM,/,,", "date: 2025-10-29 is not a school day in calendar england-2025-26 (autumn half-term break)"),
        ("oaks,P1,2025-09-06,AM,/,,", "date: 2025-09-06 is not a school day in calendar england-2025-26 (a weekend)"),
        ("oaks,P1,2024-09-04,AM,/,,", "date: 2024-09-04 is outside calendar england-2025-26 (2025-09-03 to 2026-07-21)"),
        ("oaks,P1,2025-09-03,Am,/,,", "session: 'Am' is not AM or PM"),
        ("oaks,P1,2025-09-03,AM,QQ,,", "code: 'QQ' is not a register code"),
        ("oaks,P1,2025-09-03,AM,H,,", "code: 'H' was withdrawn in 2024 (holiday authorised by the school (withdrawn 2024)); map it explicitly with --map-code to import a historic file"),
        ("oaks,P1,2025-09-03,AM,L,five,", "minutes_late: 'five' is not a whole number of minutes (0 to 32767)"),
        ("oaks,P1,2025-09-03,AM,L,-3,", "minutes_late: '-3' is not a whole number of minutes (0 to 32767)"),
        ("oaks,P1,2025-09-03,AM,I,5,", "minutes_late: '5' is given for code 'I'; only L and U take minutes late"),
        ("oaks,P1,2025-09-03,AM,/,,2025-09-03T09:05:00", "recorded_at: '2025-09-03T09:05:00' has no UTC offset (e.g. 2025-09-03T09:05:00+01:00)"),
        ("oaks,P1,2025-09-03,AM,/,,yesterday", "recorded_at: 'yesterday' is not an ISO 8601 timestamp with an offset (e.g. 2025-09-03T09:05:00+01:00)"),
        ("oaks,P1,2025-09-03,AM,/,,2025-09-31T09:05:00+01:00", "recorded_at: '2025-09-31T09:05:00+01:00' is not a valid timestamp (e.g. 2025-09-03T09:05:00+01:00)"),
        ("oaks,P1,2025-09-03,AM", "expected 7 fields as in the header, found 4"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_row_is_named_by_file_line_and_column(
    tmp_path: Path, calendars: dict[str, SchoolCalendar], row: str, problem: str
) -> None:
    path = write(tmp_path, GOOD, row)
    assert problems_of(path, calendars) == [f"{path}:3: {problem}"]


def test_every_problem_of_every_row_is_listed_at_once(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(
        tmp_path,
        "elms,P1,2025-09-03,AM,/,,",
        GOOD,
        "oaks,P1,2025-09-03,XX,QQ,,",
    )
    with pytest.raises(RegisterError) as raised:
        read(path, calendars)
    assert raised.value.summary == f"{path} has 3 problem(s) in 2 of 3 row(s)"
    assert [(p.line, p.field) for p in raised.value.problems] == [
        (2, "school"),
        (4, "code"),
        (4, "session"),
    ]


def test_a_long_list_of_problems_is_cut_but_counted(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, *[f"oaks,P{i},2025-09-03,AM,QQ,," for i in range(250)])
    with pytest.raises(RegisterError) as raised:
        read(path, calendars)
    assert len(raised.value.problems) == 200
    assert raised.value.problems[-1].line == 201
    assert raised.value.summary.endswith(
        "250 problem(s) in 250 of 250 row(s); the first 200 are listed"
    )


def test_a_missing_required_column_names_the_header_line(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-03,/", header="school,pupil,date,code")
    assert problems_of(path, calendars) == [
        f"{path}:1: missing required column 'session' (the header has: school, pupil, date, code)"
    ]


def test_lines_stay_right_after_blank_lines(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, GOOD, "", "", "oaks,P1,2025-09-03,PM,QQ,,")
    assert problems_of(path, calendars) == [f"{path}:5: code: 'QQ' is not a register code"]


def test_a_repeated_identical_row_is_harmless(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    result = read(write(tmp_path, GOOD, GOOD, GOOD), calendars)
    assert (result.rows_read, result.accepted, result.duplicates) == (3, 1, 2)


def test_an_amendment_is_kept_beside_the_original(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    amended = "oaks,P1,2025-09-03,AM,I,,2025-09-04T10:00:00+01:00"
    table = read(write(tmp_path, GOOD.replace(",/,", ",N,"), amended), calendars).tables["oaks"]
    assert table.session.tolist() == [0, 0]
    assert table.code.tolist() == [ID_OF_CODE["N"], ID_OF_CODE["I"]]


def test_two_different_marks_recorded_at_the_same_instant_are_ambiguous(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, GOOD, "oaks,P2,2025-09-03,AM,/,,", GOOD.replace(",/,", ",N,"))
    assert problems_of(path, calendars) == [
        f"{path}:2: code: '/' conflicts with 'N' on line 4: same school, pupil, date, session "
        "and recorded_at",
        f"{path}:4: code: 'N' conflicts with '/' on line 2: same school, pupil, date, session "
        "and recorded_at",
    ]


def test_two_rows_without_recorded_at_for_one_session_are_ambiguous(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-03,AM,L,5,", "oaks,P1,2025-09-03,AM,L,7,")
    assert problems_of(path, calendars) == [
        f"{path}:2: code: 'L' (minutes late 5) conflicts with 'L' (minutes late 7) on line 3: "
        "same school, pupil, date, session and recorded_at",
        f"{path}:3: code: 'L' (minutes late 7) conflicts with 'L' (minutes late 5) on line 2: "
        "same school, pupil, date, session and recorded_at",
    ]


def test_skip_invalid_keeps_the_good_rows_and_writes_the_bad_ones_beside_the_file(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(
        tmp_path,
        GOOD + ",keep me",
        "oaks,P2,2025-09-03,AM,QQ,,,row three",
        "oaks,P3,2025-09-03",
        "elms,P4,2025-09-06,AM,/,,,row five",
        header=HEADER + ",note",
    )
    result = read(path, calendars, skip_invalid=True)
    assert (result.rows_read, result.accepted, len(result.rejected)) == (4, 1, 3)
    assert [r.line for r in result.rejected] == [3, 4, 5]
    assert result.rejected[2].reasons == (
        "school: 'elms' is not a school of this trust (oaks, pines)",
    )
    written = write_rejected(result)
    assert written == rejected_path(path) == tmp_path / "marks.rejected.csv"
    with written.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["line"] for r in rows] == ["3", "4", "5"]
    assert rows[0]["note"] == "row three"
    assert rows[0]["reasons"] == "code: 'QQ' is not a register code"
    assert rows[1]["pupil"] == "P3"
    assert rows[1]["reasons"] == "expected 8 fields as in the header, found 3"


# -- who recorded the mark in the MIS (optional recorded_by) ------------------------------------

BY_HEADER = HEADER + ",recorded_by"


def test_recorded_by_names_who_recorded_each_mark_trimmed_and_blank_is_unknown(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(
        tmp_path,
        GOOD + ", Mrs A. Smith ",
        "oaks,P1,2025-09-03,PM,N,,2025-09-03T13:30:00Z,",
        "pines,Q1,2025-09-04,AM,/,,2025-09-04T08:00:00+01:00,office",
        "oaks,P1,2025-09-03,PM,I,,2025-09-04T10:00:00+01:00,j.bloggs",
        "oaks,P2,2025-09-03,AM,/,,2025-09-03T08:51:00+01:00,Mrs A. Smith",
        header=BY_HEADER,
    )
    result = read(path, calendars)
    oaks, pines = result.tables["oaks"], result.tables["pines"]
    assert [oaks.recorder(row) for row in range(len(oaks))] == [
        "Mrs A. Smith", None, "j.bloggs", "Mrs A. Smith",
    ]  # fmt: skip
    assert oaks.recorders == ("Mrs A. Smith", "j.bloggs")  # only the school's own users
    assert pines.recorders == ("office",) and pines.recorder(0) == "office"


def test_a_file_whose_recorded_by_is_all_blank_reads_as_one_without_it(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    without = read(write(tmp_path, GOOD, name="a.csv"), calendars).tables["oaks"]
    blank = read(write(tmp_path, GOOD + ",", header=BY_HEADER, name="b.csv"), calendars)
    table = blank.tables["oaks"]
    assert (without.recorded_by, table.recorded_by, table.recorders) == (None, None, ())
    assert table.code.tolist() == without.code.tolist()
    assert table.recorded_at.tolist() == without.recorded_at.tolist()


def test_a_name_longer_than_100_characters_is_named_by_file_line_and_column(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    long = "x" * 101
    path = write(
        tmp_path,
        GOOD + ",a.user",
        "oaks,P1,2025-09-03,PM,N,,," + long,
        "oaks,P2,2025-09-03,PM,N,,, " + "y" * 100 + " ",  # 100 once trimmed: kept
        header=BY_HEADER,
    )
    assert problems_of(path, calendars) == [
        f"{path}:3: recorded_by: '{'x' * 40}...' is 101 characters long (at most 100)"
    ]


def test_skip_invalid_leaves_out_a_row_with_too_long_a_name_and_keeps_the_rest(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(
        tmp_path,
        GOOD + ",a.user",
        "oaks,P1,2025-09-03,PM,N,,," + "x" * 150,
        header=BY_HEADER,
    )
    result = read(path, calendars, skip_invalid=True)
    assert (result.accepted, [r.line for r in result.rejected]) == (1, [3])
    assert result.rejected[0].reasons[0].startswith("recorded_by: 'xxx")
    assert result.rejected[0].values["recorded_by"] == "x" * 150
    table = result.tables["oaks"]
    assert (table.recorders, table.recorder(0)) == (("a.user",), "a.user")


def test_one_version_recorded_by_two_different_users_is_ambiguous(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, GOOD + ",a.user", GOOD + ",b.user", header=BY_HEADER)
    assert problems_of(path, calendars) == [
        f"{path}:2: recorded_by: 'a.user' conflicts with 'b.user' on line 3: same school, "
        "pupil, date, session and recorded_at",
        f"{path}:3: recorded_by: 'b.user' conflicts with 'a.user' on line 2: same school, "
        "pupil, date, session and recorded_at",
    ]


def test_a_row_repeated_with_the_same_user_is_harmless(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    result = read(write(tmp_path, GOOD + ",a.user", GOOD + ", a.user", header=BY_HEADER), calendars)
    assert (result.accepted, result.duplicates) == (1, 1)
    assert result.tables["oaks"].recorder(0) == "a.user"


def test_a_historic_code_is_imported_through_an_explicit_mapping(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, "oaks,P1,2025-09-03,AM,H,,", "oaks,P1,2025-09-03,PM,Y,,")
    result = read(path, calendars, historic_mapping={"H": "C", "Y": "Y7"})
    assert result.tables["oaks"].code.tolist() == [ID_OF_CODE["C"], ID_OF_CODE["Y7"]]


def test_a_mapping_must_lead_from_an_old_code_to_a_code_in_force(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    path = write(tmp_path, GOOD)
    assert problems_of(path, calendars, historic_mapping={"H": "HOL", "N": "O"}) == [
        f"{path}: map-code: H=HOL: 'HOL' is not a register code in force",
        f"{path}: map-code: N=O: 'N' is a code in force; only old codes can be mapped",
    ]


def test_a_file_with_only_a_header_has_no_marks(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    result = read(write(tmp_path), calendars)
    assert (result.rows_read, result.tables) == (0, {})


# -- the roster ---------------------------------------------------------------------------------

ROSTER_HEADER = "school,pupil,forename,surname,year_group,date_of_birth,admitted,left"


def test_a_roster_gives_each_schools_pupils(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "oaks,P1,Ava,Wood,3,2017-09-17,2022-09-01,",
        "100001,P2,,,,,,2026-01-31",
        header=ROSTER_HEADER,
        name="roster.csv",
    )
    rosters = read_roster(path, {"oaks", "pines"}, aliases={"100001": "oaks"})
    assert list(rosters) == ["oaks"]
    assert rosters["oaks"].pupils["P1"] == PupilRecord(
        "oaks", "P1", "Ava", "Wood", "3", date(2017, 9, 17), date(2022, 9, 1), None
    )
    assert rosters["oaks"].pupils["P2"].left == date(2026, 1, 31)


def test_a_roster_may_leave_values_blank(tmp_path: Path) -> None:
    path = write(tmp_path, "oaks,P1,,,,,,", header=ROSTER_HEADER, name="roster.csv")
    assert read_roster(path, {"oaks"})["oaks"].pupils["P1"] == PupilRecord("oaks", "P1")


def test_a_roster_missing_columns_is_refused_naming_the_file_and_each_missing_column(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "oaks,P1,Ava,Wood", header="school,pupil,forename,surname", name="r.csv")
    with pytest.raises(RegisterError) as raised:
        read_roster(path, {"oaks"})
    problems = [str(p) for p in raised.value.problems]
    missing = ("year_group", "date_of_birth", "admitted", "left")
    assert [c for c in missing if any(f"{path}:1:" in p and repr(c) in p for p in problems)] == [
        *missing
    ]


def test_every_roster_problem_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "elms,P1,,,,,,",
        "oaks,P2,,,,17/09/2017,,",
        "oaks,P3,,,,,2025-09-01,2025-08-31",
        "oaks,P3,,,,,,",
        "oaks,,,,,,,",
        header=ROSTER_HEADER,
        name="roster.csv",
    )
    with pytest.raises(RegisterError) as raised:
        read_roster(path, {"oaks"})
    assert [str(p) for p in raised.value.problems] == [
        f"{path}:2: school: 'elms' is not a school of this trust (oaks)",
        f"{path}:3: date_of_birth: '17/09/2017' is not a date (YYYY-MM-DD)",
        f"{path}:4: left: 2025-08-31 is before admitted (2025-09-01)",
        f"{path}:5: pupil: 'P3' is already on line 4",
        f"{path}:6: pupil: is empty",
    ]


def test_marks_read_fast_enough_for_a_trust(
    tmp_path: Path, calendars: dict[str, SchoolCalendar], calendar: SchoolCalendar
) -> None:
    """A smoke test of the column-wise path on 100,000 rows (the benchmark has the figures)."""
    days = [d.isoformat() for d in calendar.school_days[:50]]
    lines = [
        f"oaks,P{p:04d},{d},{s},{'/' if s == 'AM' else chr(92)},,{d}T09:00:00+01:00"
        for p in range(1000)
        for d in days
        for s in ("AM", "PM")
    ]
    result = read(write(tmp_path, *lines), calendars)
    table = result.tables["oaks"]
    assert len(table) == 100_000
    assert np.array_equal(np.bincount(table.pupil), np.full(1000, 100))


def test_one_calendar_reads_whatever_schools_the_file_names(
    tmp_path: Path, calendar: SchoolCalendar
) -> None:
    path = write(tmp_path, GOOD, "elms,E1,2025-09-03,PM,N,,2025-09-03T13:10:00+01:00")
    result = read_marks(path, OneCalendar(calendar))
    assert sorted(result.tables) == ["elms", "oaks"]
    assert result.tables["elms"].pupils == ("E1",)


def test_schools_and_pupils_interleaved_in_the_file_come_out_per_school_in_file_order(
    tmp_path: Path, calendars: dict[str, SchoolCalendar]
) -> None:
    rows = [  # (school, pupil, date, session): schools and pupils mixed as an MIS may write them
        ("pines", "Q2", "2025-09-03", "AM"), ("oaks", "P3", "2025-09-03", "AM"),
        ("oaks", "P1", "2025-09-03", "AM"), ("pines", "Q1", "2025-09-03", "AM"),
        ("oaks", "P3", "2025-09-03", "PM"), ("pines", "Q2", "2025-09-03", "PM"),
        ("oaks", "P2", "2025-09-04", "AM"), ("oaks", "P1", "2025-09-04", "AM"),
        ("pines", "Q3", "2025-09-04", "AM"), ("oaks", "P3", "2025-09-04", "AM"),
    ]  # fmt: skip
    lines = [f"{s},{p},{d},{h},/,,{d}T08:50:00+01:00" for s, p, d, h in rows]
    lines.insert(4, "oaks,P9,2025-09-03,AM,NOT-A-CODE,,2025-09-03T08:50:00+01:00")  # left out
    result = read(write(tmp_path, *lines), calendars, skip_invalid=True)
    for school, table in result.tables.items():
        wanted = [(p, d, h) for s, p, d, h in rows if s == school]
        first_seen = list(dict.fromkeys(p for p, _, _ in wanted))
        assert table.pupils == tuple(first_seen)
        assert [table.pupils[i] for i in table.pupil] == [p for p, _, _ in wanted]
        assert table.session.tolist() == [
            0 if (d, h) == ("2025-09-03", "AM") else 1 if d == "2025-09-03" else 2
            for _, d, h in wanted
        ]
        assert table.pupil.dtype == np.int32


@given(st.lists(st.integers(0, 40), min_size=1, max_size=200))
def test_renumbering_a_schools_pupils_agrees_with_numpys_unique(ids: list[int]) -> None:
    array = np.array(ids, dtype=np.int32)
    local, inverse = _renumbered(array, 41)
    want_local, want_inverse = np.unique(array, return_inverse=True)
    assert local.tolist() == want_local.tolist()
    assert inverse.tolist() == want_inverse.tolist()
