"""The bundled flows (flows/*.yaml): every one loads and passes its checks, and each plan's
distinctive rule holds at the definition level (guards and the state machine)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from escalation_flow.adapters.flow_files import flow_files, load_flow
from escalation_flow.core.definition import Flow, TaskKind
from escalation_flow.core.fact_names import ALL_FACTS
from escalation_flow.core.machine import machine_for
from escalation_flow.core.penalty_notices import NO_NOTICES

FLOWS = Path(__file__).parents[2] / "flows"
BUNDLED = flow_files(FLOWS)


@functools.cache
def load_path(path: Path) -> Flow:
    return load_flow(path)


def load(name: str) -> Flow:
    return load_path(FLOWS / f"{name}.yaml")


def env(flow: Flow, term: str = "autumn", **facts: float) -> Mapping[str, Any]:
    """A pupil with full attendance and nothing recorded, changed by ``facts``."""
    base: dict[str, float] = {name: 0.0 for name in ALL_FACTS}
    for name in ALL_FACTS:
        if name.startswith("attendance_pct"):
            base[name] = 100.0
    base.update(possible_sessions=200.0, compulsory_school_age=1.0)
    base.update(NO_NOTICES)  # no penalty notice in the register: none is forbidden
    base.update({f"{e}_recorded": 0.0 for e in flow.event_ids()})
    base.update(facts)
    # Of compulsory school age through the whole window unless told: every unauthorised session
    # of the ten school weeks was missed at that age, and the threshold follows from them.
    of_age = "unauthorised_sessions_of_compulsory_age_last_10_school_weeks"
    if of_age not in facts:
        base[of_age] = base["unauthorised_sessions_last_10_school_weeks"]
    if "penalty_notice_threshold_met" not in facts:
        base["penalty_notice_threshold_met"] = float(
            base[of_age] >= 10 and base["compulsory_school_age"] == 1.0
        )
    return flow.environment(base, term)


def target(
    flow: Flow, state: str, trigger: str, facts: Mapping[str, Any], outcome: str | None = None
) -> str | None:
    """Where the flow's machine takes a case in ``state`` on ``trigger`` (None: it stays)."""
    move = machine_for(flow).next_state(state, trigger, facts, outcome)
    return move.target if move else None


def test_there_are_five_bundled_plans() -> None:
    assert [p.stem for p in BUNDLED] == [
        "academy-staged-intervention",
        "family-liaison-five-stage",
        "leigh-academy-oaks",
        "sherrier-ce-primary",
        "who-does-what-and-when",
    ]


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_flow_loads_and_passes_its_checks(path: Path) -> None:
    flow = load_path(path)
    assert flow.id == path.stem
    assert len(flow.version) == 64
    machine = machine_for(flow)
    assert machine.states[-1] == "closed"
    assert set(machine.states[:-1]) == set(flow.states)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_flow_quotes_its_plan_and_needs_approval_for_letters(path: Path) -> None:
    flow = load_path(path)
    for ref in flow.states.values():
        for task in ref.state.tasks:
            if task.kind in (TaskKind.LETTER, TaskKind.REFERRAL, TaskKind.LEGAL):
                assert task.approval.value == "required", (ref.name, task.id)
        for timer in ref.state.timers:
            assert timer.quote or timer.why, (ref.name, timer.id)
    for stage in flow.definition.stages:
        for criterion in stage.entry.criteria() if stage.entry else ():
            assert criterion.quote, (stage.number, criterion.id)


# -- 000 and 001: late arrivals over a half term ------------------------------------------------


@pytest.mark.parametrize("name", ["leigh-academy-oaks", "sherrier-ce-primary"])
def test_lates_per_half_term_escalate_at_three_then_five(name: str) -> None:
    flow = load(name)
    assert not flow.entry[2].holds(env(flow, late_sessions_this_half_term=2))
    assert flow.entry[2].holds(env(flow, late_sessions_this_half_term=3))
    assert not flow.entry[3].holds(env(flow, late_sessions_this_half_term=4))
    assert flow.entry[3].holds(env(flow, late_sessions_this_half_term=5))


@pytest.mark.parametrize(
    ("name", "pct", "stage"),
    [
        ("leigh-academy-oaks", 96.0, None),
        ("leigh-academy-oaks", 95.99, 2),
        ("leigh-academy-oaks", 93.0, 2),
        ("leigh-academy-oaks", 92.99, 3),
        ("leigh-academy-oaks", 90.0, 3),
            ("leigh-academy-oaks", 89.99, 3),  # below 90 with no plan yet: stage three first
        ("sherrier-ce-primary", 95.5, 2),  # the plan's 95-96% gap goes to stage two
        ("sherrier-ce-primary", 96.0, None),
    ],
)
def test_band_edges_are_decided(name: str, pct: float, stage: int | None) -> None:
    flow = load(name)
    holding = [
        s.number
        for s in flow.escalating_stages
        if flow.entry[s.number].holds(env(flow, attendance_pct=pct))
    ]
    assert (holding[0] if holding else None) == stage


def test_oaks_stage_three_review_is_four_weeks_and_sends_no_improvement_to_stage_four() -> None:
    flow = load("leigh-academy-oaks")
    (timer,) = flow.state("stage_3.plan_in_place").state.timers
    assert (timer.after.unit, timer.after.amount, timer.at) == ("school_weeks", 4, "08:00")
    worse = env(
        flow, attendance_pct_over_review=85, attendance_pct=90, attendance_pct_at_review_start=91
    )
    better = env(flow, attendance_pct_over_review=97, attendance_pct=92)
    assert target(flow, "stage_3.plan_in_place", timer.id, worse) == "stage_4.plan_review_meeting"
    assert target(flow, "stage_3.plan_in_place", timer.id, better) == "stage_3.improved_monitor"


# -- 002: safeguarding from anywhere, penalty-notice consideration ------------------------------


def test_family_liaison_safeguarding_stage_is_reached_from_every_state() -> None:
    flow = load("family-liaison-five-stage")
    machine = machine_for(flow)
    for state in flow.states:
        move = machine.next_state(state, "safeguarding_concern", env(flow))
        assert move is not None and move.target_stage == 5, state
    assert any(
        t.trigger == "safeguarding_concern" and t.to == "stage_5" for t in flow.definition.anywhere
    )  # and for a pupil with no case


@pytest.mark.parametrize(
    ("sessions", "compulsory", "holds"), [(9, 1, False), (10, 1, True), (14, 0, False)]
)
def test_family_liaison_penalty_notice_is_considered_at_ten_sessions_in_ten_weeks(
    sessions: int, compulsory: int, holds: bool
) -> None:
    flow = load("family-liaison-five-stage")
    threshold = flow.guard(flow.definition.conditions["penalty_threshold"].when)
    facts = env(
        flow, unauthorised_sessions_last_10_school_weeks=sessions, compulsory_school_age=compulsory
    )
    assert threshold.holds(facts) is holds
    (task,) = flow.state("stage_3.penalty_notice_consideration").state.tasks
    assert (task.kind, task.approval.value, task.role.value) == (
        TaskKind.LEGAL,
        "required",
        "attendance_lead",
    )


def test_family_liaison_notice_to_improve_is_skipped_for_a_term_time_holiday() -> None:
    flow = load("family-liaison-five-stage")
    machine = machine_for(flow)
    holiday = env(
        flow, unauthorised_sessions_last_10_school_weeks=10, holiday_sessions_this_year=10
    )
    move = machine.next_state("stage_3.formal_meeting", "daily", holiday)
    assert move is not None and move.target == "stage_3.penalty_notice_consideration"
    # both parents have had two notices for this child in three years: no notice is proposed
    barred = {**holiday, "penalty_notice_allowed_for_any_parent": 0.0}
    assert machine.next_state("stage_3.formal_meeting", "daily", barred) is None
    assert machine.next_state("stage_3.formal_meeting", "daily", env(flow)) is None


# -- 003: the N-code path and its 15-day checks -------------------------------------------------


def test_academy_n_code_path_runs_letter_n_letter_2_letter_3_then_stage_2() -> None:
    flow = load("academy-staged-intervention")
    machine = machine_for(flow)
    not_improved = env(
        flow,
        attendance_pct=90,
        attendance_pct_at_review_start=91,
        attendance_pct_over_review=85,
        unresolved_n_sessions=2,
    )
    path = [
        ("stage_1.n_code_check", "daily", "stage_1.letter_n"),
        ("stage_1.letter_n", "letter_n", "stage_1.letter_n_wait"),
        ("stage_1.letter_n_wait", "two_week_check", "stage_1.letter_2"),
        ("stage_1.letter_2", "letter_2", "stage_1.letter_2_check"),
        ("stage_1.letter_2_check", "check_15_days", "stage_1.letter_3"),
        ("stage_1.letter_3", "letter_3", "stage_1.letter_3_check"),
        ("stage_1.letter_3_check", "check_15_days", "stage_2.panel_meeting"),
    ]
    for source, trigger, target in path:
        move = machine.next_state(source, trigger, not_improved, "sent")
        assert move is not None and move.target == target, source
    for state in ("stage_1.letter_2_check", "stage_1.letter_3_check"):
        (timer,) = flow.state(state).state.timers
        assert (timer.after.unit, timer.after.amount) == ("school_days", 15)


def test_academy_stage_two_review_de_escalates_to_stage_one_or_goes_to_enforcement() -> None:
    flow = load("academy-staged-intervention")
    machine = machine_for(flow)
    improved = env(flow, attendance_pct=92, attendance_pct_at_review_start=90)
    worse = env(
        flow, attendance_pct=85, attendance_pct_at_review_start=86, attendance_pct_over_review=70
    )
    stage_3 = env(
        flow,
        attendance_pct=80,
        attendance_pct_at_review_start=81,
        attendance_pct_over_review=60,
        attendance_pct_last_6_school_weeks=70,
        unauthorised_sessions_last_6_school_weeks=12,
    )
    targets = [
        machine.next_state("stage_2.initial_review", "initial_review", e)
        for e in (improved, worse, stage_3)
    ]
    assert [m.target if m else None for m in targets] == [
        "stage_1.monitor",
        "stage_2.enforcement",
        "stage_3.la_referral",
    ]
    did_not_attend = target(
        flow, "stage_2.panel_meeting", "attendance_panel_meeting", worse, "parents_did_not_attend"
    )
    assert did_not_attend == "stage_2.did_not_attend"


# -- 004: term thresholds and four-week periods -------------------------------------------------


@pytest.mark.parametrize(
    ("term", "pct", "holds"),
    [
        ("autumn", 86, False),
        ("autumn", 84.9, True),
        ("spring", 86, True),
        ("spring", 90, False),
        ("summer", 89.9, True),
    ],
)
def test_who_does_what_threshold_depends_on_the_term(term: str, pct: float, holds: bool) -> None:
    flow = load("who-does-what-and-when")
    facts = env(flow, term, attendance_pct=pct, unauthorised_sessions_this_term=1)
    assert flow.entry[1].holds(facts) is holds


def test_who_does_what_every_stage_period_is_four_school_weeks() -> None:
    flow = load("who-does-what-and-when")
    timers = [t for ref in flow.states.values() for t in ref.state.timers]
    assert timers and {(t.after.unit, t.after.amount) for t in timers} == {("school_weeks", 4)}


def test_who_does_what_continued_drop_climbs_to_a_considered_la_referral() -> None:
    flow = load("who-does-what-and-when")
    dropping = env(
        flow, attendance_pct=80, attendance_pct_at_review_start=82, attendance_pct_at_stage_entry=84
    )
    climb = [
        target(flow, state, "four_week_monitoring", dropping)
        for state in ("stage_1.monitoring", "stage_2.monitoring", "stage_3.next_four_weeks")
    ]
    assert climb == ["stage_2.informal_meeting", "stage_3.meeting", "stage_4.referral_considered"]
    (task,) = flow.state("stage_4.referral_considered").state.tasks
    assert (task.kind, task.approval.value, task.outcomes[0]) == (
        TaskKind.REFERRAL,
        "required",
        "not_referred",
    )


# -- domain rule 6 on the bundled flows and their letters ----------------------------------------


def _templates_named(flow: Flow) -> set[str]:
    named = {rec.task.template for rec in flow.definition.universal if rec.task.template}
    for stage in flow.definition.stages:
        for state in stage.states.values():
            named |= {t.template for t in state.tasks if t.template}
            named |= {r.task.template for r in state.recurring if r.task.template}
    named |= {t.template for side in flow.definition.side for t in side.tasks if t.template}
    return named


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_letter_a_flow_sends_exists_and_states_only_a_history_every_path_has(
    path: Path,
) -> None:
    from escalation_flow.core.plan_rules import letter_truth_problems
    from escalation_flow.letters.catalogue import letter_claims

    flow = load_path(path)
    claims = letter_claims(flow.id, _templates_named(flow))
    assert letter_truth_problems(flow.definition, claims) == []


def test_every_letter_template_is_sent_by_some_flow() -> None:
    from escalation_flow.letters.catalogue import all_templates

    flows = [load_path(p) for p in BUNDLED]
    sent = {(f.id, name) for f in flows for name in _templates_named(f)}
    unsent = [
        (owner, name)
        for owner, name in sorted(all_templates(), key=lambda t: (t[0] or "", t[1]))
        if not any((f.id, name) in sent for f in flows if owner in (None, f.id))
    ]
    assert unsent == []


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("academy-staged-intervention", "enforcement_letter_1"),
        ("academy-staged-intervention", "notice_to_improve"),
        ("family-liaison-five-stage", "notice_to_improve_letter"),
    ],
)
def test_a_notice_to_improve_or_enforcement_letter_needs_unauthorised_absence_since_the_case_opened(
    name: str, task: str
) -> None:
    # Issue 11, rule 1: "No legal or penalty step for a pupil with no unauthorised absence
    # (G, N, O, U) in the period the step cites (... since the case opened for a notice to
    # improve or an enforcement letter)". Unauthorised absence in the last ten school weeks that
    # came before the case (which then opened on illness) is not enough.
    flow = load(name)
    in_states = (t for stage in flow.definition.stages for s in stage.states.values() for t in s.tasks)
    beside = (t for side in flow.definition.side for t in side.tasks)  # plan 002 decides it daily
    when = next(t.when for t in (*in_states, *beside) if t.id == task)
    assert when is not None
    recent = {"unauthorised_sessions_last_10_school_weeks": 12.0}  # the threshold (issue 16)
    before_the_case = env(flow, **recent, unauthorised_sessions_since_case_opened=0.0)
    in_the_case = env(flow, **recent, unauthorised_sessions_since_case_opened=2.0)
    assert not flow.guard(when).holds(before_the_case)
    assert flow.guard(when).holds(in_the_case)


def _task_when(flow: Flow, task: str) -> str:
    in_states = (t for stage in flow.definition.stages for s in stage.states.values() for t in s.tasks)
    beside = (t for side in flow.definition.side for t in side.tasks)
    when = next(t.when for t in (*in_states, *beside) if t.id == task)
    assert when is not None
    return when


def test_sessions_missed_before_compulsory_school_age_do_not_take_a_case_to_legal_powers() -> None:
    # Issue 16, Ruby Clarke (Year R, of compulsory school age from 1 January): 20 sessions of
    # O in November are in the ten school weeks on 6 January, but were missed before that age.
    flow = load("leigh-academy-oaks")
    (stage_5,) = (s for s in flow.definition.stages if s.number == 5)
    assert stage_5.entry is not None
    (legal,) = (c for c in stage_5.entry.criteria() if c.id == "legal_threshold")
    ruby = env(flow, unauthorised_sessions_last_10_school_weeks=20.0,
               unauthorised_sessions_of_compulsory_age_last_10_school_weeks=0.0)
    assert not flow.guard(legal.when).holds(ruby)
    assert not flow.guard(_task_when(flow, "la_legal_powers")).holds(ruby)
    of_age = env(flow, unauthorised_sessions_last_10_school_weeks=20.0)
    assert flow.guard(legal.when).holds(of_age)


def test_a_four_year_old_with_illness_only_gets_no_pre_legal_meeting() -> None:
    # Issue 16, Noah Kowalski (Year R, aged 4, illness only) reached stage four on "otherwise":
    # the case may move for support, but the pre-legal meeting is a legal step.
    flow = load("family-liaison-five-stage")
    when = _task_when(flow, "pre_legal_meeting")
    noah = env(flow, compulsory_school_age=0.0, illness_sessions_last_10_school_weeks=20.0)
    assert not flow.guard(when).holds(noah)
    assert not flow.guard(when).holds(env(flow, illness_sessions_last_10_school_weeks=20.0))
    assert flow.guard(when).holds(env(flow, unauthorised_sessions_last_10_school_weeks=4.0))


@pytest.mark.parametrize(
    ("name", "task", "sessions"),
    [
        ("academy-staged-intervention", "consider_fixed_penalty", 2.0),  # Priya Baker
        ("academy-staged-intervention", "enforcement_letter_1", 2.0),  # her "Formal warning"
        ("academy-staged-intervention", "notice_to_improve", 1.0),
        ("family-liaison-five-stage", "notice_to_improve_letter", 1.0),  # Sienna Williams
        ("family-liaison-five-stage", "holiday_legal_reminder", 4.0),
        ("sherrier-ce-primary", "penalty_notice_form", 9.0),
    ],
)
def test_no_penalty_route_step_below_the_national_threshold(
    name: str, task: str, sessions: float
) -> None:
    # Issue 16: a penalty warning, a notice to improve, an enforcement letter or a penalty
    # notice's consideration needs 10 unauthorised sessions of compulsory age in 10 school weeks.
    flow = load(name)
    when = flow.guard(_task_when(flow, task))
    common = {"unauthorised_sessions_since_case_opened": 10.0, "holiday_sessions_this_year": 10.0}
    below = env(flow, unauthorised_sessions_last_10_school_weeks=sessions,
                illness_sessions_last_10_school_weeks=13.0, **common)
    assert not when.holds(below)
    assert when.holds(env(flow, unauthorised_sessions_last_10_school_weeks=10.0, **common))
