"""A decision survives the round trip through its history event: what the store keeps is enough
to rebuild the case."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, date, datetime

import pytest

from escalation_flow.core.case import fold
from escalation_flow.core.decisions import (
    CaseClosed,
    CaseOpened,
    Decision,
    Reason,
    StageEntered,
    StateEntered,
    Stimulus,
    TaskCompleted,
    TaskCreated,
    TimerArmed,
    decision_from_event,
    quick_init,
)

AT = datetime(2025, 9, 29, 17, 0, tzinfo=UTC)
ON = date(2025, 9, 29)
REASON = Reason(
    trigger="daily",
    criterion="lates",
    guard="late_sessions_this_half_term >= 3",
    facts=(("late_sessions_this_half_term", 3),),
    quote="three or more late arrivals over a half term",
)
HISTORY: list[Decision] = [
    CaseOpened(on=ON, at=AT, flow="oaks", flow_version="abc"),
    StageEntered(on=ON, at=AT, stage=2, state="stage_2.support", from_stage=0, reason=REASON),
    TaskCreated(
        on=ON,
        at=AT,
        task_key="letter#1",
        task="letter",
        role="attendance_team",
        kind="letter",
        due=date(2025, 10, 2),
        approval=True,
        template="reminder",
        outcomes=("sent",),
    ),
    TimerArmed(
        on=ON,
        at=AT,
        timer_key="review#1",
        timer="review",
        due=date(2025, 10, 27),
        fire_at=datetime(2025, 10, 27, 8, tzinfo=UTC),
        rule="4 school weeks",
        calendar_version="v",
    ),
    TaskCompleted(on=ON, at=AT, task_key="letter#1", task="letter", outcome="sent", by="s1"),
    CaseClosed(on=ON, at=AT, reason=Reason(trigger="review", quote="improved")),
]


@pytest.mark.parametrize("decision", HISTORY, ids=lambda d: d.type)
def test_every_decision_reads_back_from_its_event(decision: Decision) -> None:
    assert decision_from_event(decision.to_event(), decision.at) == decision


def test_a_case_folds_the_same_from_events_as_from_decisions() -> None:
    events = [d.to_event() for d in HISTORY[:4]]
    rebuilt = fold("oaks", "P1", [decision_from_event(e, AT) for e in events])
    assert rebuilt == fold("oaks", "P1", HISTORY[:4])
    assert [t.task for t in rebuilt.tasks] == ["letter"]
    assert rebuilt.timers[0].due == date(2025, 10, 27)


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        decision_from_event({"type": "teleported", "date": "2025-09-29"}, AT)


@dataclasses.dataclass(frozen=True)
class Plain:
    kind: str
    name: str = "daily"
    extra: dict[str, int] = dataclasses.field(default_factory=dict)
    note: str | None = dataclasses.field(default=None, kw_only=True)


@quick_init
@dataclasses.dataclass(frozen=True)
class Quick:
    kind: str
    name: str = "daily"
    extra: dict[str, int] = dataclasses.field(default_factory=dict)
    note: str | None = dataclasses.field(default=None, kw_only=True)


@pytest.mark.parametrize(
    ("args", "kwargs"), [(("a",), {}), (("a", "b"), {"note": "n"}), ((), {"kind": "k"})]
)
def test_the_quick_init_builds_what_the_dataclass_init_builds(
    args: tuple[str, ...], kwargs: dict[str, str]
) -> None:
    plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)
    assert dataclasses.astuple(plain) == dataclasses.astuple(quick)
    assert list(vars(plain)) == list(vars(quick))  # the fields in the same order


def test_the_quick_init_refuses_what_the_dataclass_init_refuses() -> None:
    assert Quick("a").extra is not Quick("a").extra  # the factory is called each time
    for args, kwargs in (((), {}), (("a", "b", {}, "n"), {}), (("a",), {"other": 1})):
        with pytest.raises(TypeError):
            Quick(*args, **kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Quick("a").kind = "b"  # type: ignore[misc]


def test_decisions_pickle_compare_and_replace_as_before() -> None:
    task = HISTORY[2]
    assert pickle.loads(pickle.dumps(task)) == task
    assert dataclasses.replace(task, task="other").task == "other"
    assert Stimulus("daily") == Stimulus(kind="daily", name="daily", extra={})


def test_a_state_an_amendment_returned_to_is_led_by_no_guard() -> None:
    """So a later amendment cannot undo the undoing: the guard the amendment found false led
    into the state it undid, not into this one (``engine._reconsider`` asks ``entered_by``)."""
    led = Reason(trigger="daily", guard="unresolved_n_sessions >= 1")
    back = Reason(trigger="amended", guard="unresolved_n_sessions >= 1", quote="marks amended")
    opened = [HISTORY[0], HISTORY[1]]
    moved = StateEntered(
        on=ON, at=AT, state="stage_2.letter", from_state="stage_2.support", reason=led
    )
    returned = StateEntered(
        on=ON, at=AT, state="stage_2.support", from_state="stage_2.letter", reason=back
    )
    assert fold("oaks", "P1", [*opened, moved]).entered_by == "unresolved_n_sessions >= 1"
    case = fold("oaks", "P1", [*opened, moved, returned])
    assert (case.state, case.entered_by) == ("stage_2.support", None)
    stage_back = StageEntered(
        on=ON, at=AT, stage=1, state="stage_1.monitor", from_stage=2, reason=back
    )
    assert fold("oaks", "P1", [*opened, stage_back]).entered_by is None
