"""What an outbox row becomes after an attempt (``core.delivery``): accepted is sent; a 5xx
refusal fails for good at once; anything else waits an exponential back-off, capped, until the
attempts run out. A wrong step here sends a letter twice or drops it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from escalation_flow.core.delivery import (
    BACKOFF_CAP,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    SENT,
    Accepted,
    Refused,
    after_attempt,
    backoff,
    refused,
)

NOW = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # the night the clocks go back
attempts = st.integers(min_value=1, max_value=40)
codes = st.one_of(st.none(), st.integers(min_value=400, max_value=599))


@given(attempts)
def test_an_accepted_message_is_sent_whatever_came_before(n: int) -> None:
    assert after_attempt(Accepted(250, "ok"), n, NOW).status == SENT


@given(st.integers(min_value=500, max_value=599), attempts)
def test_a_5xx_refusal_fails_for_good_at_once(code: int, n: int) -> None:
    after = after_attempt(refused(code, "no such mailbox"), n, NOW)
    assert (after.status, after.next_attempt_at) == (FAILED, None)


@given(codes, attempts)
def test_a_refusal_for_now_is_retried_later_until_the_attempts_run_out(
    code: int | None, n: int
) -> None:
    result = Refused(code, "try later", permanent=False)
    after = after_attempt(result, n, NOW)
    if n >= MAX_ATTEMPTS:
        assert (after.status, after.next_attempt_at) == (FAILED, None)
    else:
        assert after.status == QUEUED and after.next_attempt_at is not None
        assert NOW < after.next_attempt_at <= NOW + BACKOFF_CAP


@given(attempts)
def test_the_back_off_never_shrinks_and_never_passes_its_cap(n: int) -> None:
    assert backoff(n) <= backoff(n + 1) <= BACKOFF_CAP


def test_the_back_off_doubles_from_a_minute() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]


def test_only_5xx_is_a_refusal_for_good() -> None:
    assert [refused(c, "").permanent for c in (421, 451, 499, 500, 550, 554, None)] == [
        False, False, False, True, True, True, False,
    ]  # fmt: skip
