"""The known-at timeline keeps its running counts by recounting only what changed (the pupils
whose earlier marks changed, from the earliest day changed); every evening its facts are the
facts of the register as known then, counted from scratch."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.facts import facts_as_of
from escalation_flow.core.marks import MarkTable
from escalation_flow.core.register import AssumeRecordedAtEndOfDay, register_as_known_at
from escalation_flow.core.timeline import KnownAtTimeline
from tests.register_builders import Row, bundled_calendar, mark_table, school_days

CAL = bundled_calendar("2025-26")
DAYS = school_days(CAL, date(2025, 9, 3), date(2025, 11, 14))
CODES = ("/", "/", "/", "O", "N", "L", "U", "I", "G", "#")
END_OF_DAY = AssumeRecordedAtEndOfDay()


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@st.composite
def amended_registers(draw: st.DrawFn) -> MarkTable:
    """A few pupils marked day by day, with marks amended days or weeks later (each pupil from
    a different earliest day), some sessions filled in late and some left blank."""
    rows: list[Row] = []
    for i in range(draw(st.integers(1, 4))):
        pupil = f"P{i}"
        codes = draw(st.lists(st.sampled_from(CODES), min_size=len(DAYS), max_size=len(DAYS)))
        for k, day in enumerate(DAYS):
            for session in ("AM", "PM"):
                if codes[k] != "#":
                    rows.append((pupil, day, session, codes[k], _at(day, 9)))
        for _ in range(draw(st.integers(0, 6))):
            k = draw(st.integers(0, len(DAYS) - 1))
            later = draw(st.integers(0, 30))
            when = _at(DAYS[k], 10) + timedelta(days=later)
            session = draw(st.sampled_from(("AM", "PM")))
            rows.append((pupil, DAYS[k], session, draw(st.sampled_from(CODES[:-1])), when))
    return mark_table(CAL, rows)


@given(amended_registers())
def test_the_timeline_recounting_only_what_changed_gives_the_facts_counted_afresh(
    marks: MarkTable,
) -> None:
    timeline = KnownAtTimeline(marks, CAL, unknown_recorded_at=END_OF_DAY)
    for step in timeline.steps(0, len(DAYS) - 1):
        got = timeline.facts(min_possible_sessions_ytd=4)
        grid = register_as_known_at(
            marks, CAL, known_at=step.known_at, unknown_recorded_at=END_OF_DAY
        )
        want = facts_as_of(grid, CAL, step.day_index, min_possible_sessions_ytd=4)
        for name in REGISTER_FACTS:
            np.testing.assert_array_equal(
                got.values[name], want.values[name], err_msg=f"{name} on day {step.day_index}"
            )
