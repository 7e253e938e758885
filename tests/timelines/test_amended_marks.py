"""Marks amended after the fact: an N that opened a case becomes an I (a reason was given)
before the letter went. The pending letter is superseded, and the history keeps the first
decision beside the second, each with the facts it rested on."""

from __future__ import annotations

from escalation_flow.core.calendar import SchoolCalendar

from .conftest import flow
from .story import Story


def test_letter_n_is_superseded_when_the_n_becomes_an_illness(calendar: SchoolCalendar) -> None:
    story = Story(calendar, school="academy")
    # Mon 15 Sep: absent in the morning, no reason yet (N). On Thu 18 Sep at 09:30, before the
    # letter goes, the office records the reason: illness (I).
    story.pupil("P1").absent("2025-09-15", "N", sessions="AM").amend(
        "2025-09-15", "I", sessions="AM", recorded="2025-09-18T09:30"
    )
    replay = story.replay(flow("academy-staged-intervention"), to="2025-09-26")

    # the first decisions stay as they were taken, with their facts
    (entered,) = replay.of_type("P1", "stage_entered")
    assert (entered["date"], entered["stage"], entered["reason"]) == (
        "2025-09-16", 1, {"attendance_pct": 95, "target_pct": 96},
    )
    letter_due, back, monitor = replay.of_type("P1", "state_entered")
    assert (letter_due["date"], letter_due["state"], letter_due["reason"]) == (
        "2025-09-17", "stage_1.letter_n", {"unresolved_n_sessions": 1},
    )
    # nothing was done in letter_n yet, so the step is undone: back to the N-code question,
    # which now finds an explained (authorised) absence only: no further action, monitor
    assert (back["date"], back["state"], back["trigger"]) == (
        "2025-09-18", "stage_1.n_code_check", "amended",
    )
    assert back["reason"] == {"unresolved_n_sessions": 0}
    assert (monitor["date"], monitor["state"]) == ("2025-09-18", "stage_1.monitor")
    assert replay.tasks("P1") == [("2025-09-17", "letter_n", "attendance_team", "2025-09-19")]
    # the amendment is known at the end of Thu 18 Sep: the letter is no longer due
    superseded = replay.of_type("P1", "task_superseded")
    assert [(e["date"], e["task"]) for e in superseded] == [("2025-09-18", "letter_n")]
    assert "unresolved_n_sessions=0" in superseded[0]["why"]
    assert replay.case("P1").open_task_named("letter_n") is None


def _unexplained_then_illness(calendar: SchoolCalendar) -> Story:
    story = Story(calendar, school="sherrier")
    # Wed 1 Oct: an unexplained morning (N), the only trigger (43 of 44 sessions: 97.7%); on
    # Thu 2 Oct at 09:30 the parent's call is recorded and the N becomes an I.
    story.pupil("P1").absent("2025-10-01", "N", sessions="AM").amend(
        "2025-10-01", "I", sessions="AM", recorded="2025-10-02T09:30"
    )
    return story


def test_a_letter_resting_only_on_the_n_is_superseded_and_both_decisions_kept(
    calendar: SchoolCalendar,
) -> None:
    replay = _unexplained_then_illness(calendar).replay(flow("sherrier-ce-primary"), to="2025-10-10")
    types = [(e["date"], e["type"]) for e in replay.events("P1")]
    # nothing was done on the case before the amendment, so the step is undone: the letter is
    # superseded and the case the unexplained absence opened is closed
    assert types == [
        ("2025-10-01", "case_opened"),
        ("2025-10-01", "stage_entered"),
        ("2025-10-01", "task_created"),
        ("2025-10-02", "task_superseded"),
        ("2025-10-02", "case_closed"),
    ]
    (entered,) = replay.of_type("P1", "stage_entered")
    assert (entered["stage"], entered["criterion"], entered["reason"]) == (
        2, "unexplained_absence", {"unauthorised_sessions_this_half_term": 1},
    )
    (superseded,) = replay.of_type("P1", "task_superseded")
    assert superseded["task"] == "first_reminder_letter"
    assert superseded["why"].startswith("marks amended: ")
    assert "no longer holds (" in superseded["why"]
    (closed,) = replay.of_type("P1", "case_closed")
    assert closed["trigger"] == "amended"
    assert closed["reason"]["unauthorised_sessions_this_half_term"] == 0
    for fact in ("attendance_pct=97.7273", "unauthorised_sessions_this_half_term=0"):
        assert fact in superseded["why"]
    assert replay.fact("P1", "2025-10-02", "unauthorised_sessions_this_half_term") == 0


def test_a_case_whose_letter_was_superseded_is_not_left_with_nothing_to_do(
    calendar: SchoolCalendar,
) -> None:
    replay = _unexplained_then_illness(calendar).replay(flow("sherrier-ce-primary"), to="2025-11-28")
    case = replay.case("P1")
    assert not case.is_open or case.tasks or case.timers


def _unauthorised_before_half_term(calendar: SchoolCalendar, amended: str, code: str) -> Story:
    story = Story(calendar, school="sherrier")
    # Thu 23 Oct, the last school day before half term: an unauthorised morning (O) opens a case
    # at stage 2 and a reminder letter waits for approval. Half term sets the half term's count
    # back to 0. On Mon 3 Nov the office corrects a mark of ``amended``.
    story.pupil("P1").absent("2025-10-23", "O", sessions="AM").amend(
        amended, code, sessions="AM", recorded="2025-11-03T09:30"
    )
    return story


def test_a_correction_the_step_did_not_rest_on_leaves_the_case_after_the_figures_fell(
    calendar: SchoolCalendar,
) -> None:
    # Mon 20 Oct's morning was a late arrival (L), not on time: the absence that opened the
    # case is untouched. Today's figures alone (0 this half term) would close the case.
    story = _unauthorised_before_half_term(calendar, "2025-10-20", "L")
    replay = story.replay(flow("sherrier-ce-primary"), to="2025-11-07")
    assert [e["type"] for e in replay.events("P1")] == [
        "case_opened",
        "stage_entered",
        "task_created",
    ]
    assert replay.fact("P1", "2025-11-03", "unauthorised_sessions_this_half_term") == 0
    assert replay.case("P1").open_task_named("first_reminder_letter") is not None


def test_a_correction_of_the_absence_the_step_rested_on_still_undoes_it_after_half_term(
    calendar: SchoolCalendar,
) -> None:
    # The absence itself was an illness (I): the step no longer holds on the day it was taken.
    story = _unauthorised_before_half_term(calendar, "2025-10-23", "I")
    replay = story.replay(flow("sherrier-ce-primary"), to="2025-11-07")
    types = [(e["date"], e["type"]) for e in replay.events("P1")]
    assert types[-2:] == [("2025-11-03", "task_superseded"), ("2025-11-03", "case_closed")]
    assert replay.case("P1").open_task_named("first_reminder_letter") is None


def test_a_step_a_review_decided_is_not_undone_by_a_later_correction(
    calendar: SchoolCalendar,
) -> None:
    story = Story(calendar, school="academy")
    # An N on Mon 15 Sep, explained (I) on 22 Sep; the two-week check of 3 Oct finds the
    # reason given and attendance improved over its review: no further action, monitor. On
    # Wed 8 Oct the office corrects Mon 6 Oct's morning to a late arrival (L). "Improved" reads
    # the review's window, known only while the review's timer fires: unknown afterwards, not
    # false, so the correction does not send the case back to wait for the check again.
    story.pupil("P1").absent("2025-09-15", "N", sessions="AM").amend(
        "2025-09-15", "I", sessions="AM", recorded="2025-09-22T09:30"
    ).amend("2025-10-06", "L", sessions="AM", recorded="2025-10-08T09:30")
    replay = story.replay(flow("academy-staged-intervention"), to="2025-10-24", auto_complete=True)
    assert replay.of_type("P1", "task_superseded", "timer_cancelled") == []
    assert [e["trigger"] for e in replay.of_type("P1", "state_entered", "case_closed")] == [
        "daily",  # letter_n
        "letter_n",  # letter_n_wait
        "two_week_check",  # monitor
        "daily",  # closed: back at target for the monitoring period
    ]
