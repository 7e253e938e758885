"""A made-up pupil and school for previewing every letter (docs, tests, a preview command)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time

from escalation_flow.letters.addressing import Household
from escalation_flow.letters.context import (
    CaseHistory,
    Contact,
    Figures,
    LetterContext,
    Meeting,
    PenaltyNotices,
    Pupil,
    School,
)


def sample_context(**changes: object) -> LetterContext:
    """A complete context: every optional field given, so every template can render it.

    ``changes`` replace top-level fields (``meeting=None``, ``pupil=Pupil(...)``, ...).
    """
    values: dict[str, object] = {
        "school": School(
            name="Oakfield Primary Academy",
            address_lines=("12 Station Road", "Oakfield", "Kent ME1 2AB"),
            phone="01634 000 111",
            email="office@oakfield.example.sch.uk",
        ),
        "pupil": Pupil(forename="Amira", surname="Khan", year_group="Year 4"),
        "figures": Figures(
            attendance_pct=100 * 103 / 114,
            possible_sessions=114,
            absence_sessions=11,
            unauthorised_sessions=6,
            late_sessions_this_half_term=3,
            period_from=date(2025, 9, 3),
            period_to=date(2025, 10, 24),
            unauthorised_sessions_last_10_school_weeks=6,
            unexplained_sessions=2,
            illness_sessions_this_term=5,
            attendance_pct_this_term=100 * 103 / 114,
        ),
        "stage": 2,
        "stage_name": "Initial Target Support",
        "letter_date": date(2025, 11, 3),
        "contact": Contact(name="Mrs J. Patel", role="Attendance Lead"),
        "signatory": Contact(name="Mr D. Okafor", role="Head Teacher"),
        "addressees": (
            Household(
                contacts=("C-0001",),
                names=("Mrs Sara Khan",),
                postal_address="4 Orchard Close, Oakfield, Kent ME1 3CD",
                emails=("sara.khan@example.org",),
            ),
        ),
        "next_review": date(2025, 12, 1),
        "meeting": Meeting(date=date(2025, 11, 11), time=time(15, 30), place="the meeting room"),
        "extra": {},
    }
    values.update(changes)
    return LetterContext(**values)  # type: ignore[arg-type]


def _after(*letters: str, tasks: tuple[str, ...] = ()) -> dict[str, object]:
    """A case that sent ``letters`` (and completed ``tasks``) before this one."""
    return {"history": CaseHistory(letters_sent=letters, tasks_done=(*letters, *tasks))}


#: How a real case would differ from the sample for these letters: (flow or None, letter).
#: A letter that states a history is previewed on the usual path to it: the letters before it
#: in its plan were sent (without them it says less: tests/adapters/test_letters.py).
_PREVIEW_CHANGES: dict[tuple[str | None, str], dict[str, object]] = {
    (None, "second_warning_letter"): _after("first_reminder_letter"),
    (None, "third_warning_letter"): _after(
        "first_reminder_letter", "second_warning_letter", tasks=("individual_attendance_plan",)
    ),
    (None, "second_attendance_letter"): _after("first_concern_letter"),
    (None, "attendance_panel_invitation"): _after("letter_n", "letter_2", "letter_3"),
    (None, "stage_3_meeting_request"): _after("attendance_reminder_letter"),
    (None, "stage_4_plan_review_request"): _after(
        "attendance_reminder_letter", "stage_3_meeting_request",
        tasks=("individual_attendance_plan",),
    ),
    ("academy-staged-intervention", "letter_3"): {
        **_after("letter_n", "letter_2"),
        "contact": Contact(name="Ms R. Hughes", role="Child & Family Support Worker"),
    },
    ("who-does-what-and-when", "letter_2"): {
        **_after("letter_1_and_leaflet"),
        "extra": {
            "targets": "Amira will be in class by 8:50am every day. You will tell the school "
            "by 9:00am, using the online form, on any day Amira is ill."
        },
    },
    # A school whose local authority lets head teachers issue penalty notices says so.
    (None, "notice_to_improve"): {
        "penalty_notices": PenaltyNotices(
            issued_by="head_teacher_or_local_authority",
            local_code="the county council's Education Penalty Notice Code of Conduct",
        )
    },
    # The meeting in a "did not attend" letter is the one that was missed.
    (None, "did_not_attend_letter"): {
        "meeting": Meeting(date=date(2025, 10, 23), time=time(15, 30), place="the meeting room")
    },
    (None, "enforcement_letter_1"): {
        "contact": Contact(name="Mr D. Okafor", role="Head of Academy"),
        "next_review": date(2025, 11, 17),
    },
    (None, "letter_n"): {"next_review": date(2025, 11, 17)},
    ("academy-staged-intervention", "letter_2"): {
        **_after("letter_n"),
        "contact": Contact(name="Ms R. Hughes", role="Child & Family Support Worker"),
        "next_review": date(2025, 11, 24),
    },
    # Letter 3 is handed to the parent at the meeting itself.
    ("who-does-what-and-when", "letter_3"): {
        "meeting": Meeting(date=date(2025, 11, 3), time=time(15, 30), place="the meeting room")
    },
}


def preview_context(template: str, flow: str | None = None) -> LetterContext:
    """The sample, changed where this letter needs a different story to read true."""
    changes = _PREVIEW_CHANGES.get((flow, template), {})
    return replace(sample_context(), **changes)  # type: ignore[arg-type]
