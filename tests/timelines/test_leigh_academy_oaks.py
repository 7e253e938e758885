"""Plan 000 (Leigh Academy Oaks): lates over a half term, the stage-three four-week plan review
across the October half term and the clock change, and the move to stage four."""

from __future__ import annotations

from escalation_flow.core.calendar import SchoolCalendar

from .conftest import flow
from .story import Story, action


def test_lates_then_failed_four_week_review_moves_the_case_to_stage_four(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar, school="oaks")
    story.pupil("P1").late(["2025-09-08", "2025-09-10", "2025-09-12"]).late(
        ["2025-09-16", "2025-09-18"]
    ).absent("2025-10-13..2025-10-14", "I")
    replay = story.replay(
        flow("leigh-academy-oaks"),
        to="2025-11-07",
        actions=[
            action("2025-09-15T10:00", "P1", "attendance_reminder_letter", "sent"),
            action("2025-10-01T15:30", "P1", "attendance_meeting", "held"),
        ],
    )

    assert replay.stages("P1") == [("2025-09-12", 2), ("2025-09-18", 3), ("2025-11-05", 4)]
    stage_two_tasks = [t for t in replay.tasks("P1") if t[0] in ("2025-09-12", "2025-09-15")]
    assert stage_two_tasks == [
        ("2025-09-12", "attendance_reminder_letter", "attendance_team", "2025-09-17"),
        # once the letter is sent the class teacher's informal discussion is due in 5 school days
        ("2025-09-15", "informal_discussion", "class_teacher", "2025-09-22"),
    ]
    (armed,) = replay.of_type("P1", "timer_armed")
    # four school weeks from Wed 1 October: the half-term week has no sessions, so it does not
    # count; the review fires at 08:00 London time, which is GMT again after 26 October.
    assert (armed["date"], armed["timer"], armed["due"]) == (
        "2025-10-01", "four_week_review", "2025-11-05",
    )
    assert armed["fire_at"] == "2025-11-05T08:00:00+00:00"
    stage_four = replay.of_type("P1", "stage_entered")[-1]
    assert stage_four["trigger"] == "four_week_review"
    assert stage_four["quote"] == "move to Stage Four if no improvement is made."
    assert replay.case("P1").state == "stage_4.plan_review_meeting"


def test_first_lates_open_no_case_until_the_third(calendar: SchoolCalendar) -> None:
    story = Story(calendar, school="oaks")
    story.pupil("P1").late(["2025-09-08", "2025-09-10"])
    replay = story.replay(flow("leigh-academy-oaks"), to="2025-09-30")
    assert replay.events("P1") == []
