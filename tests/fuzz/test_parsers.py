"""The readers fuzzed briefly in the default suite (seconds); ``tests/reliability`` runs the
same properties far longer (issue 14, item 12)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import parsers as p

#: Derandomised: the default suite tries the same inputs every run (it never fails by chance);
#: the reliability suite explores new ones each time.
BRIEF = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    derandomize=True,
)
ANY_BYTES = st.binary(max_size=400)


@BRIEF
@given(st.one_of(p.csv_text(p.MARK_COLUMNS).map(str.encode), ANY_BYTES))
def test_any_marks_file_gives_marks_or_a_named_error(data: bytes) -> None:
    p.gives_a_result_or_a_named_error(p.marks, data, "marks.csv")


@BRIEF
@given(p.csv_text(p.MARK_COLUMNS).map(str.encode))
def test_any_marks_file_read_with_skip_invalid_gives_marks_or_a_named_error(data: bytes) -> None:
    p.gives_a_result_or_a_named_error(p.marks_skipping, data, "marks.csv")


@BRIEF
@given(st.one_of(p.csv_text(p.ROSTER_COLUMNS).map(str.encode), ANY_BYTES))
def test_any_roster_gives_pupils_or_a_named_error(data: bytes) -> None:
    p.gives_a_result_or_a_named_error(p.roster, data, "roster.csv")


@BRIEF
@given(st.one_of(p.mutated(p.CALENDAR), ANY_BYTES))
def test_any_calendar_gives_a_year_or_a_named_error(data: bytes) -> None:
    p.gives_a_result_or_a_named_error(p.calendar, data, "calendar.yaml")


@BRIEF
@given(p.mutated(p.FLOW))
def test_any_flow_gives_a_flow_or_a_named_error(data: bytes) -> None:
    p.gives_a_result_or_a_named_error(p.flow, data, "flow.yaml")


@BRIEF
@given(st.one_of(p.mutated(p.TRUST), ANY_BYTES))
def test_any_trust_file_gives_a_trust_or_a_named_error(data: bytes) -> None:
    p.gives_a_result_or_a_named_error(p.trust, data, "trust.yaml")
