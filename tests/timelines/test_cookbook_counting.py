"""The worked examples of ``docs/flow-format.md``'s "Cookbook: counting and windows": each flow
under ``tests/data/cookbook/count_*.yaml`` loaded, checked and run over a small register."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Flow

from .story import Replay, Story, action

COOKBOOK = Path(__file__).resolve().parents[1] / "data" / "cookbook"


def cookbook(name: str) -> Flow:
    return load_flow(COOKBOOK / f"{name}.yaml")


def test_every_counting_example_is_a_flow_that_passes_its_checks() -> None:
    names = sorted(p.stem for p in COOKBOOK.glob("count_*.yaml"))
    assert names == ["count_episodes", "count_previous_term", "count_since", "count_windows"]
    for name in names:
        assert cookbook(name).id


# -- since the stage, the case and a task --------------------------------------------------------


@pytest.fixture(scope="module")
def since(calendar: SchoolCalendar) -> Replay:
    story = Story(calendar)
    # Four unauthorised sessions on Mon 8 and Tue 9 Sep: the case opens on the 9th.
    # The call is on Wed 10 Sep; that day's two sessions are before it, Thu 11th's after.
    story.pupil("A").absent("2025-09-08..2025-09-11", "O").absent("2025-09-15..2025-09-16", "O")
    # The same four, then nothing more: the call was the last word.
    story.pupil("B").absent("2025-09-08..2025-09-09", "O")
    calls = [action("2025-09-10T10:00", p, "concern_call", "spoke_to_parent") for p in "AB"]
    return story.replay(cookbook("count_since"), to="2025-09-19", actions=calls)


def test_two_unauthorised_sessions_after_the_call_reach_stage_2(since: Replay) -> None:
    assert since.stages("A")[:2] == [("2025-09-09", 1), ("2025-09-11", 2)]
    assert since.stages("B") == [("2025-09-09", 1)]


def test_ten_since_the_case_opened_count_from_its_first_day(since: Replay) -> None:
    # Opened on Tue 9 Sep, whose two sessions count: 9, 10, 11, 15, 16 Sep make ten on Tue
    # 16th. Since stage 2 was entered (Thu 11th) there are only four by then (15th, 16th).
    assert ("2025-09-16", "stage_2.head_meeting") in since.states("A")
    assert ("2025-09-15", "stage_2.head_meeting") not in since.states("A")


# -- windows of N school weeks (a parameter) and N school days ------------------------------------

MONDAYS = [
    "2025-09-15", "2025-09-22", "2025-09-29", "2025-10-06", "2025-10-13",
    "2025-10-20", "2025-11-03", "2025-11-10", "2025-11-17", "2025-11-24",
]  # fmt: skip


@pytest.fixture(scope="module")
def windows(calendar: SchoolCalendar) -> Replay:
    story = Story(calendar)
    # A Monday morning's holiday (G) every school week from 15 Sep: at most four of the last
    # thirty sessions (86.7%, not below 85%).
    story.pupil("W").absent(MONDAYS, "G", sessions="AM")
    # Three days' illness: 6 of the last 30 sessions on Wed 8 Oct (80%; 4 of 30 on Tue 7th).
    story.pupil("R").absent("2025-10-06..2025-10-08", "I")
    return story.replay(cookbook("count_windows"), to="2025-12-12")


def test_ten_unauthorised_sessions_in_window_weeks_school_weeks_open_a_review(
    windows: Replay,
) -> None:
    # The tenth Monday is 24 Nov; the half term (27-31 Oct) has no school day, so it is no
    # school week: the ten school weeks ending with 24 Nov's begin with 15 Sep's.
    assert windows.stages("W") == [("2025-11-24", 1)]
    # It closes on the first evening with no absence in the last ten school days (25 Nov -
    # 8 Dec) and fewer than ten in the window: by then the ten school weeks begin with 29 Sep's
    # and hold eight Mondays.
    closed = windows.of_type("W", "case_closed")
    assert [e["date"] for e in closed] == ["2025-12-08"]
    assert closed[0]["reason"]["unauthorised_sessions_last_window_weeks_school_weeks"] == 8


def test_attendance_over_fifteen_school_days_opens_a_review_until_it_recovers(
    windows: Replay,
) -> None:
    assert windows.stages("R") == [("2025-10-08", 1)]
    # Ten school days without absence by 22 Oct, but the fifteen ending Mon 3 Nov still hold
    # 6-8 Oct (6 of 30 sessions: 80%); those ending Tue 4 Nov only 7-8 Oct (86.7%).
    assert [e["date"] for e in windows.of_type("R", "case_closed")] == ["2025-11-04"]


# -- episodes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def episodes(calendar: SchoolCalendar) -> Replay:
    story = Story(calendar)
    # Ill on Mon 15 Sep, back on Tuesday, ill again Wed 17 - Thu 18: a second episode.
    story.pupil("E").absent("2025-09-15", "I").absent("2025-09-17..2025-09-18", "I")
    # Two days' illness in one run: one episode. A morning off is no day of absence.
    story.pupil("H").absent("2025-09-15..2025-09-16", "I").absent("2025-09-18", "I", sessions="AM")
    # Ill Mon 22 - Tue 23 Sep, then no reason given (N) from Wed 24th, still away.
    story.pupil("M").absent("2025-09-22..2025-09-23", "I").absent("2025-09-24..2025-10-10", "N")
    return story.replay(cookbook("count_episodes"), to="2025-10-10")


def test_a_second_separate_episode_in_a_term_is_a_call_home(episodes: Replay) -> None:
    assert episodes.stages("E") == [("2025-09-17", 1)]
    assert episodes.stages("H") == []
    assert episodes.fact("E", "2025-09-17", "absence_episodes_this_term") == 2


def test_ten_school_days_since_the_first_unexplained_day_reach_the_dsl(episodes: Replay) -> None:
    # The episode began with illness on 22 Sep; its first N is Wed 24 Sep (day 0); ten school
    # days later is Wed 8 Oct.
    assert episodes.fact("M", "2025-10-07", "school_days_since_first_unexplained_absence_of_episode") == 9
    assert episodes.stages("M") == [("2025-10-08", 2)]
    assert episodes.fact("M", "2025-10-08", "current_absence_episode_school_days") == 13
    assert episodes.fact("M", "2025-10-08", "consecutive_unexplained_school_days") == 11


# -- the previous term ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def terms(calendar: SchoolCalendar) -> Replay:
    story = Story(calendar)
    # Away (illness) from 1 Oct through the spring term's first week: below 50% in both terms.
    story.pupil("T").absent("2025-10-01..2026-01-09", "I")
    # Away the same autumn, back for spring: one term only.
    story.pupil("U").absent("2025-10-01..2025-12-19", "I")
    return story.replay(cookbook("count_previous_term"), to="2026-01-16")


def test_below_half_for_two_terms_in_a_row_is_a_meeting(terms: Replay) -> None:
    # Spring's attendance is known from its tenth possible session: Mon 12 Jan (5 Jan is
    # INSET, so the term's first week has four school days).
    assert terms.stages("T") == [("2026-01-12", 1)]
    assert terms.stages("U") == []
    assert terms.fact("U", "2026-01-09", "attendance_pct_previous_term") < 50


def test_the_cookbook_section_shows_guards_its_fixtures_run() -> None:
    import re

    doc = (COOKBOOK.parents[2] / "docs" / "flow-format.md").read_text()
    section = doc[doc.index("## Cookbook: counting and windows") :]
    fixtures = {p.name: p.read_text() for p in COOKBOOK.glob("count_*.yaml")}
    for name in fixtures:
        assert f"tests/data/cookbook/{name}" in section
    whens = re.findall(r'when: "([^"]+)"', section)
    assert len(whens) >= 6
    for when in whens:
        assert any(when in text for text in fixtures.values()), when
