"""Plan 004 ("who does what and when"): the threshold depends on the term (autumn 85%, spring
90%), each stage is a four-week monitoring period, and after eight weeks at stage 3 a referral
to the local authority is considered. Holidays never use up the weeks."""

from __future__ import annotations

import math
from datetime import date

import pytest

from escalation_flow.core.calendar import SchoolCalendar

from .conftest import flow
from .story import Replay, Story, action

FLOW = "who-does-what-and-when"


def test_the_same_attendance_opens_a_case_in_spring_but_not_in_autumn(
    calendar: SchoolCalendar,
) -> None:
    # A whole day of unexplained absence every eighth school day of the autumn term: nine days,
    # so year-to-date attendance sinks to 87.5% (126 of 144 sessions) on Fri 19 Dec, above
    # autumn's 85% all term; then one unauthorised morning on the first day of spring (Mon
    # 5 Jan is an INSET day).
    autumn = [x for x in calendar.school_days if x <= date(2025, 12, 19)]
    days = [x.isoformat() for i, x in enumerate(autumn) if i % 8 == 7]
    assert days[0] == "2025-09-12" and days[-1] == "2025-12-19" and len(days) == 9
    story = Story(calendar, school="primary")
    story.pupil("P1").absent(days, "O").absent("2026-01-06", "O", sessions="AM")
    replay = story.replay(flow(FLOW), to="2026-01-09")

    # known from the 15th school day (Tue 23 Sep: 30 possible sessions)
    autumn_pct = [replay.fact("P1", x.isoformat(), "attendance_pct") for x in autumn[14:]]
    assert not any(math.isnan(p) for p in autumn_pct)
    assert min(autumn_pct) == pytest.approx(87.5)
    assert replay.fact("P1", "2025-12-19", "attendance_pct") == pytest.approx(87.5)
    assert replay.fact("P1", "2025-12-19", "unauthorised_sessions_this_term") == 18

    assert replay.stages("P1") == [("2026-01-06", 1)]
    (entered,) = replay.of_type("P1", "stage_entered")
    assert entered["reason"] == {
        "attendance_pct": pytest.approx(100 * 127 / 146, abs=1e-4),
        "attendance_threshold": 90,  # spring's
        "unauthorised_sessions_this_term": 1,  # this term's: autumn's 18 no longer count
    }
    assert replay.tasks("P1") == [("2026-01-06", "letter_1", "admin_staff", "2026-01-09")]


def _school_days_on(calendar: SchoolCalendar, weekday: int, first: str) -> list[str]:
    start = date.fromisoformat(first)
    return [x.isoformat() for x in calendar.school_days if x.weekday() == weekday and x >= start
            and x <= date(2026, 3, 27)]


@pytest.fixture(scope="module")
def eight_weeks(calendar: SchoolCalendar) -> Replay:
    story = Story(calendar, school="primary")
    # Attendance that keeps dropping: unauthorised absence every Monday from 8 September, every
    # Friday too from 7 November, and every Wednesday as well from 7 January.
    absent = (
        _school_days_on(calendar, 0, "2025-09-08")
        + _school_days_on(calendar, 4, "2025-11-07")
        + _school_days_on(calendar, 2, "2026-01-07")
    )
    story.pupil("P1").absent(absent, "O")
    return story.replay(
        flow(FLOW),
        to="2026-03-06",
        actions=[
            action("2025-09-25T10:00", "P1", "letter_1", "sent"),
            action("2025-10-23T14:00", "P1", "notify_class_teacher", "done"),
            action("2025-11-05T15:30", "P1", "informal_meeting", "held"),
            action("2025-11-05T16:00", "P1", "letter_2", "given"),
            action("2025-11-12T10:00", "P1", "other_interventions", "intervention_started"),
            action("2025-12-09T15:30", "P1", "letter_3", "given_at_meeting"),
            action("2025-12-09T15:45", "P1", "plan_of_action_meeting", "held"),
            action("2026-01-22T10:00", "P1", "four_week_follow_up", "done"),
        ],
    )


def test_four_week_periods_lead_to_the_local_authority_after_eight_weeks_at_stage_three(
    eight_weeks: Replay,
) -> None:
    # Tue 23 Sep is the 15th school day (30 possible sessions): 24/30 = 80%, below autumn's 85%.
    assert eight_weeks.stages("P1") == [
        ("2025-09-23", 1), ("2025-10-23", 2), ("2025-12-03", 3), ("2026-02-26", 4),
    ]
    assert eight_weeks.states("P1") == [
        ("2025-09-23", "stage_1.letter_1"),
        ("2025-09-25", "stage_1.monitoring"),
        ("2025-10-23", "stage_2.informal_meeting"),
        ("2025-11-05", "stage_2.monitoring"),
        ("2025-12-03", "stage_3.meeting"),
        ("2025-12-09", "stage_3.first_four_weeks"),
        ("2026-01-20", "stage_3.follow_up"),
        ("2026-01-22", "stage_3.next_four_weeks"),
        ("2026-02-26", "stage_4.referral_considered"),
    ]
    stage_4 = eight_weeks.of_type("P1", "stage_entered")[-1]
    # Lower than four weeks before (67.06% on Thu 22 Jan) and than when stage 3 began (73.33% at
    # the end of Wed 3 Dec): 61.54% on Wed 25 Feb, the evening before the timer.
    assert stage_4["reason"] == {
        "attendance_pct": pytest.approx(61.5385),
        "attendance_pct_at_review_start": pytest.approx(67.0588),
        "attendance_pct_at_stage_entry": pytest.approx(73.3333),
    }
    assert eight_weeks.case("P1").state == "stage_4.referral_considered"


def test_each_four_weeks_skips_the_holidays(eight_weeks: Replay) -> None:
    timers = [(e["date"], e["due"], e["fire_at"]) for e in eight_weeks.of_type("P1", "timer_armed")]
    assert timers == [
        # four school weeks from Thu 25 Sep; still BST (07:00 UTC)
        ("2025-09-25", "2025-10-23", "2025-10-23T07:00:00+00:00"),
        # from Wed 5 Nov, GMT now
        ("2025-11-05", "2025-12-03", "2025-12-03T08:00:00+00:00"),
        # from Tue 9 Dec: w/c 15 Dec (1); the two Christmas weeks have no school day and do not
        # count; w/c 5 Jan (2, from Tue 6: Mon 5 is INSET), 12 Jan (3), 19 Jan (4): Tue 20 Jan
        ("2025-12-09", "2026-01-20", "2026-01-20T08:00:00+00:00"),
        # from Thu 22 Jan: w/c 26 Jan (1), 2 Feb (2), 9 Feb (3); the half term 16-20 Feb does not
        # count; w/c 23 Feb (4): Thu 26 Feb. Eight school weeks after the meeting, plus the
        # follow-up's two days.
        ("2026-01-22", "2026-02-26", "2026-02-26T08:00:00+00:00"),
    ]


def test_each_action_is_owned_by_a_role_and_due_on_school_days(eight_weeks: Replay) -> None:
    tasks = [t for t in eight_weeks.tasks("P1") if t[1] != "headteacher_absence_call"]
    assert tasks == [
        ("2025-09-23", "letter_1", "admin_staff", "2025-09-26"),
        # one school day after Thu 23 Oct: Fri 24 is an INSET day, then the half term
        ("2025-10-23", "notify_class_teacher", "attendance_lead", "2025-11-03"),
        # ten school days: 3-7 Nov (5), 10-14 Nov (10)
        ("2025-10-23", "informal_meeting", "class_teacher", "2025-11-14"),
        ("2025-10-23", "letter_2", "class_teacher", "2025-11-14"),
        ("2025-11-05", "other_interventions", "senco", "2025-11-19"),
        ("2025-12-03", "plan_of_action_meeting", "attendance_lead", "2025-12-17"),
        ("2025-12-03", "letter_3", "attendance_lead", "2025-12-17"),
        ("2026-01-20", "four_week_follow_up", "attendance_lead", "2026-01-27"),
        # ten school days from Thu 26 Feb: Fri 27 (1), 2-6 Mar (6), Mon 9 .. Thu 12 Mar (10)
        ("2026-02-26", "consider_la_referral", "attendance_lead", "2026-03-12"),
    ]
    # After the stage-3 meeting (Tue 9 Dec) the headteacher phones on each day of absence, the
    # same day; before it there is no such call.
    calls = [t for t in eight_weeks.tasks("P1") if t[1] == "headteacher_absence_call"]
    assert all(created == due and role == "headteacher" for created, _, role, due in calls)
    assert [t[0] for t in calls] == [
        "2025-12-12", "2025-12-15", "2025-12-19",
        "2026-01-07", "2026-01-09", "2026-01-12", "2026-01-14", "2026-01-16", "2026-01-19",
        "2026-01-21", "2026-01-23", "2026-01-26", "2026-01-28", "2026-01-30",
        "2026-02-02", "2026-02-04", "2026-02-06", "2026-02-09", "2026-02-11", "2026-02-13",
        "2026-02-23", "2026-02-25",
    ]
