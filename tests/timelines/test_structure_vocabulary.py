"""Issue 11 part 3, the structure side of the vocabulary: each shape of the cookbook
(``tests/data/cookbook/shape_*.yaml``) run day by day, its decisions pinned."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Flow
from escalation_flow.core.school_day import Action

from .story import Story, at

COOKBOOK = Path(__file__).resolve().parents[1] / "data" / "cookbook"


def shape(name: str) -> Flow:
    return load_flow(COOKBOOK / f"shape_{name}.yaml")


def low_attender(story: Story, pupil: str = "P1") -> None:
    """Absent every Monday and Tuesday from 15 September: well below 95% all term."""
    p = story.pupil(pupil)
    for day in story.calendar.school_days:
        if day.isoformat() >= "2025-09-15" and day.weekday() in (0, 1):
            p.absent(day.isoformat(), "I")


def test_a_review_reads_the_last_outcome_of_the_meeting(calendar: SchoolCalendar) -> None:
    story = Story(calendar)
    low_attender(story)
    flow = shape("outcome_and_state")
    first = story.replay(flow, to="2025-12-19", auto_complete=True)
    meeting_day = next(d for d, s in first.states("P1") if s == "stage_2.meeting")
    # the parents do not come: the next review sends a home visit, not a second meeting
    missed = Action(at(f"{meeting_day}T16:00"), "P1", "parent_meeting", "s1", "parent_did_not_attend")
    replay = story.replay(flow, to="2025-12-19", actions=[missed], auto_complete=True)
    states = [s for _, s in replay.states("P1")]
    after = states[states.index("stage_2.meeting") :]
    assert after[:3] == ["stage_2.meeting", "stage_1.monitoring", "stage_2.home_visit"]
    # with the meeting held (the default outcome), the same review invites them again
    held = [s for _, s in first.states("P1")]
    after = held[held.index("stage_2.meeting") :]
    assert after[:3] == ["stage_2.meeting", "stage_1.monitoring", "stage_2.meeting"]


def test_a_guard_reads_the_state_the_case_is_in(calendar: SchoolCalendar) -> None:
    story = Story(calendar)
    low_attender(story)
    flow = shape("outcome_and_state")
    plain = story.replay(flow, to="2025-11-28", auto_complete=True)
    in_monitoring = next(d for d, s in plain.states("P1") if s == "stage_1.monitoring")
    letter_day = next(d for d, s in plain.states("P1") if s == "stage_1.letter_due")
    actions = [
        Action(at(f"{letter_day}T16:00"), "P1", "medical_evidence_received", "s1"),
        Action(at(f"{in_monitoring}T16:00"), "P1", "medical_evidence_received", "s1"),
    ]
    replay = story.replay(flow, to="2025-11-28", actions=actions, auto_complete=True)
    moves = [(d, s) for d, s in replay.states("P1") if d in (letter_day, in_monitoring)]
    # from the letter: moved to monitoring; already monitoring: stays, its review not re-armed
    assert (letter_day, "stage_1.monitoring") in moves
    recorded = replay.of_type("P1", "event_recorded")
    assert len(recorded) == 2
    assert [d for d, s in moves if s == "stage_1.monitoring"] == [letter_day]


def _armed(replay: Any, pupil: str, timer: str) -> list[tuple[str, str, str]]:
    """(armed on, due, rule) of each arming of ``timer``."""
    return [
        (e["date"], e["due"], e["rule"])
        for e in replay.of_type(pupil, "timer_armed")
        if e["timer"] == timer
    ]


def test_a_review_length_comes_from_a_parameter_and_sooner_when_completely_absent(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar)
    low_attender(story, "P1")
    story.pupil("P2").absent(f"{calendar.school_days[0]}..2025-10-31", "O")
    replay = story.replay(shape("timers"), to="2025-10-24")
    on, due, rule = _armed(replay, "P1", "review")[0]
    assert rule == "6 school weeks"
    assert due == calendar.add_school_weeks(date.fromisoformat(on), 6).isoformat()
    on, due, rule = _armed(replay, "P2", "review")[0]
    assert rule == "2 school weeks"
    assert due == calendar.add_school_weeks(date.fromisoformat(on), 2).isoformat()


def test_a_repeating_timer_fires_once_per_fortnight_while_the_case_stays(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar)
    low_attender(story)
    replay = story.replay(shape("timers"), to="2025-12-19")
    armed = _armed(replay, "P1", "contact")
    fired = [e for e in replay.of_type("P1", "timer_fired") if e["timer"] == "contact"]
    calls = [t for t in replay.tasks("P1") if t[1] == "family_contact"]
    # each firing makes one call, on the day it was due, and arms the next fortnight from
    # that due date (the review's re-entry into support cancels it and arms a fresh one)
    assert len(calls) == len(fired) >= 4
    assert all(e["date"] == e["due"] for e in fired)
    assert len({e["timer_key"] for e in fired}) == len(fired)
    for e in fired:
        following = next(a for a in armed if a[0] == e["date"])
        assert following[1] == calendar.add_school_weeks(date.fromisoformat(e["due"]), 2).isoformat()
        assert following[2] == "2 school weeks (repeating)"
    # the same days, run again, decide the same
    again = story.replay(shape("timers"), to="2025-12-19")
    assert again.events("P1") == replay.events("P1")


def mondays_off(story: Story, pupil: str, code: str) -> None:
    """Absent every Monday from 15 September to 17 October, then in every day."""
    for day in story.calendar.school_days:
        if "2025-09-15" <= day.isoformat() <= "2025-10-17" and day.weekday() == 0:
            story.pupil(pupil).absent(day.isoformat(), code)


def test_a_stage_first_state_depends_on_the_facts(calendar: SchoolCalendar) -> None:
    story = Story(calendar)
    mondays_off(story, "P1", "I")  # illness: authorised
    mondays_off(story, "P2", "O")  # unauthorised: four sessions by the time the band is crossed
    replay = story.replay(shape("tiers"), to="2025-10-10", auto_complete=True)
    assert replay.states("P1")[0] == ("2025-09-23", "stage_2.support")
    assert replay.states("P2")[:2] == [
        ("2025-09-23", "stage_2.warning"),
        ("2025-09-26", "stage_2.support"),  # the warning letter sent
    ]


def test_a_tier_steps_down_at_its_review_when_the_band_no_longer_holds_and_stays_down(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar)
    mondays_off(story, "P1", "I")
    replay = story.replay(shape("tiers"), to="2025-12-19", auto_complete=True)
    assert replay.stages("P1") == [("2025-09-23", 2), ("2025-11-25", 1)]
    (down,) = [e for e in replay.of_type("P1", "stage_entered") if e["stage"] == 1]
    assert down["trigger"] == "review"
    assert down["guard"] == "not ((plan_below_pct <= attendance_pct < support_below_pct))"
    assert down["reason"]["attendance_pct"] > 90
    # in the band below: still in stage 1 at the end, never straight back up that evening
    assert replay.case("P1").state == "stage_1.monitor"


def test_a_side_path_makes_its_tasks_and_leaves_the_open_case_where_it_is(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar)
    story.pupil("P1").absent("2025-09-29..2025-10-03", "G")  # a week's holiday, leave refused
    flow = shape("side_path")
    plain = story.replay(flow, to="2025-11-28")
    opened = plain.states("P1")[0]
    assert opened[1] == "stage_1.monitoring"
    recorded = Action(at("2025-10-06T16:00"), "P1", "holiday_after_refused_leave", "s1")
    replay = story.replay(flow, to="2025-11-28", actions=[recorded])
    # the same ladder: the same moves on the same days, the review never restarted
    assert replay.states("P1") == plain.states("P1")
    assert len(replay.states("P1")) >= 2  # the review re-armed monitoring at least once
    side = [t for t in replay.tasks("P1") if t[0] == "2025-10-06"]
    assert [t[1] for t in side] == ["penalty_warning_letter", "consider_penalty_notice"]
    # its tasks stay open when the case moves on (here: the review's re-entry)
    open_tasks = {t.task for t in replay.case("P1").tasks}
    assert open_tasks == {"penalty_warning_letter", "consider_penalty_notice"}
    assert not [e for e in replay.of_type("P1", "task_superseded")]


def test_a_side_path_for_an_illness_only_pupil_makes_no_legal_step(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar)
    story.pupil("P1").absent("2025-09-29..2025-10-03", "I")
    recorded = Action(at("2025-10-06T16:00"), "P1", "holiday_after_refused_leave", "s1")
    replay = story.replay(shape("side_path"), to="2025-10-10", actions=[recorded])
    assert replay.case("P1").is_open
    assert replay.tasks("P1") == []  # the event is recorded; no penalty for illness
    assert replay.of_type("P1", "event_recorded")
