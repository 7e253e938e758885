"""Replay re-runs each step of a case's history on the register as it stood, and says why where
the answer is not what was recorded."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.audit.knowledge import Cut, PupilMarkHistory
from escalation_flow.audit.quiet_days import MISSING_DECISION, NOT_EVALUATED, Evenings
from escalation_flow.audit.replay import CaseReplay, replay_case
from escalation_flow.audit.step_replay import ReplayInputs
from escalation_flow.audit.steps import HistoryRecord, split_steps
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.case import fold
from escalation_flow.core.context import Context, Moment
from escalation_flow.core.decisions import Decision, FlowMigrated, Stimulus
from escalation_flow.core.definition import Flow
from escalation_flow.core.evaluation import evaluate
from escalation_flow.core.marks import MarkTable
from escalation_flow.core.school_day import DayEnv, SchoolCases
from tests.register_builders import bundled_calendar, mark_table, school_days, whole_days

ROOT = Path(__file__).resolve().parents[2]
FLOW_FILE = ROOT / "flows" / "leigh-academy-oaks.yaml"
LONDON = ZoneInfo("Europe/London")
LATE_DAYS = (date(2025, 9, 8), date(2025, 9, 10), date(2025, 9, 12))
LAST = date(2025, 9, 30)
AMENDED_AT = datetime(2025, 9, 22, 9, 0, tzinfo=UTC)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return bundled_calendar("2025-26")


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(FLOW_FILE)


def register_rows(cal: SchoolCalendar, *, amended: bool) -> MarkTable:
    """P1 attends every day to 30 September, late on the 8th, 10th and 12th; ``amended``: the
    10th's late is corrected to present on 22 September, after the letter went out."""
    rows = []
    for day in school_days(cal, cal.first_day, LAST):
        am = "L" if day in LATE_DAYS else "/"
        rows += whole_days(cal, "P1", [day], am, "\\", recorded_at=local(day, 9, 5))
    if amended:
        rows.append(("P1", date(2025, 9, 10), "AM", "/", AMENDED_AT))
    return mark_table(cal, rows)


def history_of(cal: SchoolCalendar, flow: Flow, marks: MarkTable) -> list[Decision]:
    run = bt.SchoolRun(school="oaks", flow=flow, calendar=cal, marks=marks)
    book = bt.run_school(run, bt.Period(None, LAST), auto_complete=True)
    return list(book.history[book.pupils.index("P1")])


def records(decisions: Sequence[Decision], version: str) -> list[HistoryRecord]:
    out = []
    for seq, d in enumerate(decisions, start=1):
        body = json.loads(json.dumps(d.to_event()))
        actor = str(body.get("by", "engine"))
        out.append(HistoryRecord(seq, d.on, d.at, d.type, body, version, actor, d.at))
    return out


def replay(
    cal: SchoolCalendar,
    flows: dict[str, Flow],
    marks: MarkTable,
    history: Sequence[HistoryRecord],
    as_of: datetime | None = None,
    evenings: Evenings | None = None,
) -> CaseReplay:
    register = PupilMarkHistory(marks, "P1", cal)
    inputs = ReplayInputs("oaks", "P1", history, flows, cal, register, evenings=evenings)
    return replay_case(inputs, as_of=as_of)


def every_evening(cal: SchoolCalendar, skip: date | None = None) -> Evenings:
    """Each school day to ``LAST`` evaluated at 18:00 (but ``skip``)."""
    days = school_days(cal, cal.first_day, LAST)
    return Evenings({d: local(d, 18) for d in days if d != skip})


@pytest.fixture(scope="module")
def amended_case(calendar: SchoolCalendar, flow: Flow) -> tuple[MarkTable, list[HistoryRecord]]:
    marks = register_rows(calendar, amended=True)
    return marks, records(history_of(calendar, flow, marks), flow.version)


def letter_step(result: CaseReplay) -> int:
    """The index of the step that opened stage two and created the reminder letter."""
    return next(
        i for i, s in enumerate(result.steps) if any("stage_entered 2" in r for r in s.recorded)
    )


def test_every_step_of_a_backtest_follows_as_known_then(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    result = replay(calendar, {flow.version: flow}, marks, history)
    assert result.steps and result.agrees
    assert [s.then.verdict for s in result.steps] == ["same"] * len(result.steps)
    assert sum(len(s.seqs) for s in result.steps) == len(history)


def test_no_evening_of_a_backtest_is_missing_a_decision(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    result = replay(
        calendar, {flow.version: flow}, marks, history, evenings=every_evening(calendar)
    )
    assert result.quiet == () and result.agrees


def test_an_evening_whose_records_are_gone_is_named_as_missing(
    calendar: SchoolCalendar, flow: Flow
) -> None:
    # five lates by the 18th: stage three that evening, after stage two on the 12th
    lates = (*LATE_DAYS, date(2025, 9, 16), date(2025, 9, 18))
    rows = []
    for day in school_days(calendar, calendar.first_day, LAST):
        am = "L" if day in lates else "/"
        rows += whole_days(calendar, "P1", [day], am, "\\", recorded_at=local(day, 9, 5))
    marks = mark_table(calendar, rows)
    history = records(history_of(calendar, flow, marks), flow.version)
    stage_3 = next(
        s for s in split_steps(history) if any(b.get("stage") == 3 for b in s.bodies)
    )
    assert (stage_3.kind, stage_3.on) == ("evening", date(2025, 9, 18))
    kept = [r for r in history if r.seq < stage_3.records[0].seq]
    evenings = every_evening(calendar)
    result = replay(calendar, {flow.version: flow}, marks, kept, evenings=evenings)
    assert not result.agrees
    assert all(s.then.same for s in result.steps)  # what is there still follows
    # every evening from then on, the case short of its stage three: one finding
    [quiet] = result.quiet
    assert (quiet.on, quiet.through, quiet.reason) == (date(2025, 9, 18), LAST, MISSING_DECISION)
    assert quiet.days == len(school_days(calendar, date(2025, 9, 18), LAST))
    assert [d.to_event() for d in quiet.would] == [dict(b) for b in stage_3.bodies]
    skipped = every_evening(calendar, skip=date(2025, 9, 18))
    first, rest = replay(calendar, {flow.version: flow}, marks, kept, evenings=skipped).quiet
    assert (first.on, first.reason) == (date(2025, 9, 18), NOT_EVALUATED)
    assert (rest.on, rest.reason) == (date(2025, 9, 19), MISSING_DECISION)


def test_a_mark_amended_after_the_letter_leaves_the_letter_standing_then_but_not_now(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    result = replay(calendar, {flow.version: flow}, marks, history)
    step = result.steps[letter_step(result)]
    assert step.on == date(2025, 9, 12)
    assert any("attendance_reminder_letter" in r for r in step.recorded)
    assert step.then.verdict == "same"
    assert (step.now.verdict, step.now.reason) == ("differs", "mark_amended_later")
    [change] = step.now.marks
    assert (change.day, change.session, change.code_then, change.code_now) == (
        date(2025, 9, 10), "AM", "L", "/",
    )  # fmt: skip
    assert change.recorded_at == AMENDED_AT
    assert "2025-09-10 AM L→/" in step.now.detail


def test_without_amendments_today_agrees_with_then(calendar: SchoolCalendar, flow: Flow) -> None:
    marks = register_rows(calendar, amended=False)
    result = replay(
        calendar,
        {flow.version: flow},
        marks,
        records(history_of(calendar, flow, marks), flow.version),
    )
    assert all(s.now.same for s in result.steps)


def test_a_step_recorded_under_another_version_without_a_migration_is_named(
    calendar: SchoolCalendar,
    flow: Flow,
    tmp_path: Path,
    amended_case: tuple[MarkTable, list[HistoryRecord]],
) -> None:
    marks, history = amended_case
    other = variant(flow, tmp_path)
    step = split_steps(history)[-1]
    changed = [
        dataclasses.replace(r, flow_version=other.version)
        if r.seq in {x.seq for x in step.records}
        else r
        for r in history
    ]
    result = replay(calendar, {flow.version: flow, other.version: other}, marks, changed)
    last = result.steps[-1]
    assert (last.then.verdict, last.then.reason) == ("differs", "flow_version")
    assert "no recorded migration" in last.then.detail
    assert all(s.then.same for s in result.steps[:-1])


def test_a_recorded_migration_moves_later_steps_onto_the_new_version(
    calendar: SchoolCalendar,
    flow: Flow,
    tmp_path: Path,
    amended_case: tuple[MarkTable, list[HistoryRecord]],
) -> None:
    marks, history = amended_case
    other = variant(flow, tmp_path)
    steps = split_steps(history)
    cut = steps[-1].records[0].seq  # the migration goes in before the last step
    d = steps[-2].records[-1]
    migration = FlowMigrated(
        on=d.on, at=d.at, from_version=flow.version, to_version=other.version, by="s.jones",
        reason_text="the trust's new plan",
    )  # fmt: skip
    before = [r for r in history if r.seq < cut]
    after = [
        dataclasses.replace(r, seq=r.seq + 1, flow_version=other.version)
        for r in history
        if r.seq >= cut
    ]
    moved = [*before, *records([migration], flow.version)[:1], *after]
    moved[len(before)] = dataclasses.replace(moved[len(before)], seq=cut, actor="s.jones")
    result = replay(calendar, {flow.version: flow, other.version: other}, marks, moved)
    assert [s.then.verdict for s in result.steps] == ["same"] * len(result.steps)
    assert any(s.kind == "migration" for s in result.steps)
    assert result.case.flow_version == other.version


def test_a_flow_version_whose_text_is_missing_cannot_be_replayed(
    calendar: SchoolCalendar, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    result = replay(calendar, {}, marks, history)
    assert {(s.then.verdict, s.then.reason) for s in result.steps} == {("differs", "flow_version")}
    assert "not stored" in result.steps[0].then.detail


def test_an_override_is_named_as_a_professional_judgement(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    decisions = [r.decision for r in history]
    on = date(2025, 10, 1)
    at = local(on, 11)
    day = calendar.day_index(on)
    book = SchoolCases(ctx=Context(flow, calendar), school="oaks", pupils=("P1",))
    book.record(0, decisions)
    register = PupilMarkHistory(marks, "P1", calendar)
    minimum = flow.definition.min_possible_sessions
    env = DayEnv(book, register.facts(Cut(at), day - 1, minimum), register.counts(Cut(at), day - 1))
    stimulus = Stimulus("override", by="s.jones", note="safeguarding concern", extra={"stage": 3})
    override = evaluate(book.ctx, book.case(0), env, 0, stimulus, Moment(on, at)).decisions
    tail = records([*decisions, *override], flow.version)[len(decisions) :]
    tail = [dataclasses.replace(r, actor="s.jones") for r in tail]
    result = replay(calendar, {flow.version: flow}, marks, [*history, *tail])
    last = result.steps[-1]
    assert last.kind == "override"
    assert (last.then.verdict, last.then.reason) == ("differs", "override")
    assert "s.jones set stage 3: safeguarding concern" in last.then.detail
    assert "follow flow version" in last.then.detail
    assert result.agrees  # an override is reported, not held against the history


def test_a_task_outcome_the_flow_does_not_allow_is_named(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    done = next(r for r in history if r.type == "task_completed")
    changed = [
        dataclasses.replace(r, body={**r.body, "outcome": "posted_by_pigeon"}) if r is done else r
        for r in history
    ]
    result = replay(calendar, {flow.version: flow}, marks, changed)
    step = next(s for s in result.steps if done.seq in s.seqs)
    assert (step.then.verdict, step.then.reason) == ("differs", "task_outcome")
    assert "posted_by_pigeon" in step.then.detail


def test_a_decision_the_register_never_supported_is_unexplained(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    entered = next(r for r in history if r.type == "stage_entered")
    changed = [
        dataclasses.replace(r, body={**r.body, "stage": 4}) if r is entered else r for r in history
    ]
    result = replay(calendar, {flow.version: flow}, marks, changed)
    step = next(s for s in result.steps if entered.seq in s.seqs)
    assert (step.then.verdict, step.then.reason) == ("differs", "unexplained")
    assert not result.agrees


def test_as_of_shows_the_case_as_it_stood(
    calendar: SchoolCalendar, flow: Flow, amended_case: tuple[MarkTable, list[HistoryRecord]]
) -> None:
    marks, history = amended_case
    moment = local(date(2025, 9, 12), 20)
    result = replay(calendar, {flow.version: flow}, marks, history, as_of=moment)
    kept = [r for r in history if r.recorded_at <= moment]
    assert sum(len(s.seqs) for s in result.steps) == len(kept)
    assert result.case == fold("oaks", "P1", [r.decision for r in kept])
    assert result.case.stage == 2
    assert [t.task for t in result.case.tasks] == ["attendance_reminder_letter"]


def variant(flow: Flow, folder: Path) -> Flow:
    """The same plan under another version: the file with one comment line more."""
    path = folder / "leigh-academy-oaks.yaml"
    path.write_text(FLOW_FILE.read_text(encoding="utf-8") + "\n# revised\n", encoding="utf-8")
    other = load_flow(path)
    assert other.version != flow.version
    return other
