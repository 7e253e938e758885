"""Plan 001 (Sherrier CE Primary School): the first, second and third warning letters as a pupil
climbs stages 2 to 4, the stage-four review across the half term and the clock change, the
penalty notice form to the local authority at stage 4, and lates counted per half term."""

from __future__ import annotations

import pytest

from escalation_flow.core.calendar import SchoolCalendar

from .conftest import flow
from .story import Story, action

FLOW = "sherrier-ce-primary"
LATES = ["2025-09-08", "2025-09-10", "2025-09-12", "2025-09-16", "2025-09-18"]
LETTERS = [
    action("2025-09-15T10:00", "P1", "first_reminder_letter", "sent"),
    action("2025-09-19T10:00", "P1", "second_warning_letter", "sent"),
    action("2025-10-02T10:00", "P1", "third_warning_letter", "sent"),
]


def test_three_warning_letters_then_the_stage_four_review(calendar: SchoolCalendar) -> None:
    story = Story(calendar, school="sherrier")
    # Late on five mornings in the first half term, then a whole day unexplained on Wed 1 Oct.
    story.pupil("P1").late(LATES).absent("2025-10-01", "O")
    replay = story.replay(
        flow(FLOW),
        to="2025-11-14",
        actions=[*LETTERS, action("2025-10-09T15:30", "P1", "formal_meeting", "held")],
    )
    assert replay.stages("P1") == [("2025-09-12", 2), ("2025-09-18", 3), ("2025-10-01", 4)]
    assert [(e["date"], e["criterion"]) for e in replay.of_type("P1", "stage_entered")] == [
        ("2025-09-12", "lates"),  # the third late arrival this half term
        ("2025-09-18", "lates"),  # the fifth
        # an unauthorised absence after the second warning letter went home
        ("2025-10-01", "continued_absence"),
    ]
    letters = [
        (e["date"], e["task"], e["role"], e["due"], e["template"])
        for e in replay.of_type("P1", "task_created")
        if e["kind"] == "letter"
    ]
    assert letters == [
        # three school days from Fri 12 Sep
        ("2025-09-12", "first_reminder_letter", "attendance_lead", "2025-09-17",
         "first_reminder_letter"),
        ("2025-09-18", "second_warning_letter", "attendance_lead", "2025-09-23",
         "second_warning_letter"),
        ("2025-10-01", "third_warning_letter", "attendance_lead", "2025-10-06",
         "third_warning_letter"),
    ]
    assert [(e["date"], e["task"]) for e in replay.of_type("P1", "task_completed")] == [
        ("2025-09-15", "first_reminder_letter"),
        ("2025-09-19", "second_warning_letter"),
        ("2025-10-02", "third_warning_letter"),
        ("2025-10-09", "formal_meeting"),
    ]
    assert [t for t in replay.tasks("P1") if t[0] >= "2025-10-01"] == [
        ("2025-10-01", "third_warning_letter", "attendance_lead", "2025-10-06"),
        # ten school days from Wed 1 Oct: 2, 3 (2), 6-10 (7), 13, 14, 15 (10)
        ("2025-10-01", "formal_meeting", "attendance_lead", "2025-10-15"),
        ("2025-10-09", "individual_plan_review", "attendance_lead", "2025-10-16"),
        # two unauthorised sessions in ten school weeks: the penalty notice form is not due
        ("2025-10-09", "direct_support", "pastoral_manager", "2025-10-23"),
    ]
    (armed,) = replay.of_type("P1", "timer_armed")
    # Four school weeks from Thu 9 Oct: w/c 13 Oct (1), 20 Oct (2); the half term has no
    # school day; w/c 3 Nov (3), 10 Nov (4): Thu 13 Nov at 08:00, GMT since 26 Oct.
    assert (armed["date"], armed["timer"], armed["due"], armed["fire_at"]) == (
        "2025-10-09", "stage_four_review", "2025-11-13", "2025-11-13T08:00:00+00:00",
    )
    assert replay.states("P1")[-1] == ("2025-11-13", "stage_4.improving")
    assert replay.of_type("P1", "state_entered")[-1]["reason"]["attendance_pct_over_review"] == 100


@pytest.mark.parametrize(
    ("later_lates", "stages"),
    [
        # after the half term (27-31 Oct): a new count starts, 2 is not 5
        (["2025-11-03", "2025-11-05"], [("2025-09-12", 2)]),
        # the same two in the first half term make five
        (["2025-10-20", "2025-10-22"], [("2025-09-12", 2), ("2025-10-22", 3)]),
    ],
)
def test_lates_are_counted_per_half_term(
    calendar: SchoolCalendar, later_lates: list[str], stages: list[tuple[str, int]]
) -> None:
    story = Story(calendar, school="sherrier")
    story.pupil("P1").late(LATES[:3]).late(later_lates)
    replay = story.replay(flow(FLOW), to="2025-11-14")
    assert replay.stages("P1") == stages
    last = later_lates[-1]
    assert replay.fact("P1", last, "late_sessions_this_half_term") == (2 if len(stages) == 1 else 5)


def test_the_penalty_notice_form_is_considered_at_stage_four_before_stage_five(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar, school="sherrier")
    # After the second warning letter: unexplained absence Wed 1 - Fri 3 Oct and Mon 6 - Tue
    # 7 Oct, ten sessions in ten school weeks by Tue 7 Oct (the legal threshold).
    story.pupil("P1").late(LATES).absent("2025-10-01..2025-10-03", "O").absent(
        "2025-10-06..2025-10-07", "O"
    )
    # The third warning letter invites the parents to a formal meeting on Thu 9 Oct; until then
    # the case stays at stage four ("Refer to LA via Penalty Notice form ... if threshold levels
    # are met"), the stage whose strategies must fail before stage five.
    waiting = story.replay(flow(FLOW), to="2025-10-08", actions=LETTERS)
    assert waiting.fact("P1", "2025-10-07", "unauthorised_sessions_last_10_school_weeks") == 10
    assert waiting.stages("P1") == [("2025-09-12", 2), ("2025-09-18", 3), ("2025-10-01", 4)]

    replay = story.replay(
        flow(FLOW),
        to="2025-10-10",
        actions=[*LETTERS, action("2025-10-09T15:30", "P1", "formal_meeting", "held")],
    )
    assert replay.stages("P1") == [("2025-09-12", 2), ("2025-09-18", 3), ("2025-10-01", 4)]
    # ten school days from Thu 9 Oct: Fri 10 (1), 13-17 (6), 20-23 (10)
    assert ("2025-10-09", "penalty_notice_form", "attendance_lead", "2025-10-23") in replay.tasks(
        "P1"
    )
    assert replay.case("P1").open_task_named("penalty_notice_form") is not None
