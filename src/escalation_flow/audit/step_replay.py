"""Replaying one step of a case's history: the case as the history left it before the step, the
flow version the step was recorded under, and the pupil's register at a knowledge cut, put to
the one evaluation again (``core.evaluation``) and compared with what was recorded.

``audit.replay`` walks a history step by step with this; the verdicts are described there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from escalation_flow.audit.knowledge import NOW, Cut, MarkChange, PupilMarkHistory
from escalation_flow.audit.quiet_days import Evenings, end_of_day
from escalation_flow.audit.steps import (
    ACTION,
    EVENING,
    MIGRATION,
    OVERRIDE,
    UNDO,
    HistoryRecord,
    Step,
    amended_readings,
    describe_event,
)
from escalation_flow.core import evaluation
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.case import Case, Folding
from escalation_flow.core.context import Context, Moment
from escalation_flow.core.day_env import DayEnv
from escalation_flow.core.decisions import ActionUndone, Decision, FlowMigrated
from escalation_flow.core.definition import Flow
from escalation_flow.core.school_cases import FloatArray
from escalation_flow.core.school_day import SchoolCases, is_term_end
from escalation_flow.core.undo import UNDO_WINDOW
from escalation_flow.errors import InputError

SAME = "same"
DIFFERS = "differs"
REASONS = (
    "override", "flow_version", "task_outcome", "mark_amended_later", "unexplained", "undo",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One reading of one step: ``same``, or ``differs`` and why."""

    verdict: str
    reason: str | None = None
    detail: str = ""
    replayed: tuple[str, ...] = ()  # what the replay decided, where it differs
    marks: tuple[MarkChange, ...] = ()
    cut: str = ""  # the knowledge the reading used

    @property
    def same(self) -> bool:
        return self.verdict == SAME


@dataclass(frozen=True)
class StepReplay:
    """One step of the history, replayed."""

    seqs: tuple[int, ...]
    on: date
    at: datetime
    kind: str
    what: str
    flow_version: str
    actor: str
    recorded: tuple[str, ...]
    then: Finding
    now: Finding

    @property
    def verdict(self) -> str:
        return self.then.verdict


#: (school day index, instant read at) to the pupil's family facts, one-element arrays
FamilyReading = Callable[[int, datetime], Mapping[str, FloatArray]]


@dataclass(frozen=True)
class ReplayInputs:
    """Everything a case's replay needs, already loaded."""

    school: str
    pupil: str
    history: Sequence[HistoryRecord]
    flows: Mapping[str, Flow]  # by version
    calendar: SchoolCalendar
    register: PupilMarkHistory
    #: the school days evaluated and when (None: unknown; quiet evenings are then checked only
    #: between the case's records)
    evenings: Evenings | None = None
    #: the pupil's family facts on a school day (index) as read at an instant, from the
    #: evenings and contacts the store keeps (``core.family_facts.snapshot_at``; None: unknown)
    family: FamilyReading | None = None


class CaseBooks:
    """The case as the history stands before the current step, and a one-pupil ``SchoolCases``
    per flow version set to it (what the engine's environment is built from)."""

    def __init__(self, inputs: ReplayInputs) -> None:
        self.inputs = inputs
        self.case = Case(school=inputs.school, pupil=inputs.pupil)
        self._folding = Folding(self.case)
        self._previous = self.case
        self._last: Decision | None = None
        self._books: dict[tuple[str, int], SchoolCases] = {}
        self.last_version = ""  # the flow version of the latest record
        self.last_step: Step | None = None  # the step the history holds before the current one

    def advance(
        self, decisions: Sequence[Decision], version: str = "", step: Step | None = None
    ) -> None:
        self.last_version = version or self.last_version
        self.last_step = step
        for d in decisions:
            self._previous, self._last = self.case, d
            self.case = self._folding.add(d)

    def book(self, flow: Flow, *, fresh: bool = False) -> SchoolCases:
        """A book holding the case as it stands (``fresh``: one the caller may change)."""
        if fresh:
            return self._new_book(flow)
        key = (flow.version, self.case.length)
        if key not in self._books:
            self._books = {key: self._new_book(flow)}
        return self._books[key]

    def _new_book(self, flow: Flow) -> SchoolCases:
        # cheap: one pupil, one decision applied to the case folded so far
        book = SchoolCases(
            ctx=Context(flow, self.inputs.calendar),
            school=self.inputs.school,
            pupils=(self.inputs.pupil,),
        )
        if isinstance(self._last, ActionUndone):
            book.load(0, self.case)  # an undo folds with the history, not onto one case
        elif self._last is not None:
            book.cases[0] = self._previous
            book.record(0, [self._last])
        return book


# -- one step --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attempt:
    cut: Cut
    day: int  # the school day whose facts the step reads


def replay_step(inputs: ReplayInputs, step: Step, books: CaseBooks) -> StepReplay:
    """One step of the history replayed as known then and as known now (``books``: the case
    as the history stands before it)."""
    case = books.case
    recorded_version = step.first.flow_version
    expected = case.flow_version if case.is_open and case.flow_version else recorded_version
    if step.kind == MIGRATION:
        then = _migration(inputs, step, case)
        return _result(step, then, Finding(SAME, detail=then.detail))
    if step.kind == UNDO:
        then = _undo(step, books.last_step)
        return _result(step, then, then)
    flow = inputs.flows.get(recorded_version)
    if flow is None:
        missing = Finding(
            DIFFERS,
            "flow_version",
            f"flow version {recorded_version[:12]} is not stored: this step cannot be replayed",
        )
        return _result(step, missing, missing)
    attempts = _attempts(inputs, step)
    then, worked = _then(inputs, flow, step, books, attempts)
    now = _now(inputs, flow, step, books, worked or attempts[0])
    if expected != recorded_version:
        then = Finding(
            DIFFERS,
            "flow_version",
            f"recorded under flow version {recorded_version[:12]} while the case was on "
            f"{expected[:12]}, with no recorded migration"
            + ("" if then.same else f"; and under its own version: {then.detail}"),
            then.replayed,
            cut=then.cut,
        )
    return _result(step, then, now)


def _result(step: Step, then: Finding, now: Finding) -> StepReplay:
    return StepReplay(
        seqs=tuple(r.seq for r in step.records),
        on=step.on,
        at=step.at,
        kind=step.kind,
        what=step.describe(),
        flow_version=step.first.flow_version,
        actor=step.first.actor,
        recorded=tuple(describe_event(b) for b in step.bodies),
        then=then,
        now=now,
    )


def _then(
    inputs: ReplayInputs,
    flow: Flow,
    step: Step,
    books: CaseBooks,
    attempts: list[_Attempt],
) -> tuple[Finding, _Attempt | None]:
    first_try: list[dict[str, Any]] | str | None = None
    for attempt in attempts:
        got = _run(inputs, flow, step, books, attempt)
        if first_try is None:
            first_try = got
        if got == [dict(b) for b in step.bodies]:
            if step.kind == OVERRIDE:
                return _override(step, flow, follows=True, cut=attempt.cut), attempt
            return Finding(SAME, cut=attempt.cut.describe()), attempt
    assert first_try is not None
    replayed = _describe(first_try)
    if step.kind == OVERRIDE:
        return _override(step, flow, follows=False, cut=attempts[0].cut), None
    if step.kind == ACTION:
        why = first_try if isinstance(first_try, str) else "the flow takes another path"
        return Finding(
            DIFFERS, "task_outcome", f"{step.describe()}: {why}", replayed,
            cut=attempts[0].cut.describe(),
        ), None  # fmt: skip
    now = _run(inputs, flow, step, books, _Attempt(NOW, attempts[0].day))
    hint = (
        " (it follows only with marks recorded after it: clocks out of step?)"
        if now == [dict(b) for b in step.bodies]
        else ""
    )
    return Finding(
        DIFFERS,
        "unexplained",
        f"the flow on the register as known then does not give what was recorded{hint}",
        replayed,
        cut=attempts[0].cut.describe(),
    ), None


def _now(inputs: ReplayInputs, flow: Flow, step: Step, books: CaseBooks, attempt: _Attempt) -> Finding:
    got = _run(inputs, flow, step, books, _Attempt(NOW, attempt.day))
    if got == [dict(b) for b in step.bodies]:
        return Finding(SAME, cut=NOW.describe())
    changes = inputs.register.changes(attempt.cut, NOW, attempt.day)
    replayed = _describe(got)
    if changes:
        named = "; ".join(c.text() for c in changes)
        return Finding(
            DIFFERS,
            "mark_amended_later",
            f"with today's register the flow would give {', '.join(replayed) or 'nothing'}: "
            f"marks amended since: {named}",
            replayed,
            changes,
            NOW.describe(),
        )
    return Finding(
        DIFFERS, "unexplained", "today's register gives another answer", replayed,
        cut=NOW.describe(),
    )  # fmt: skip


def _override(step: Step, flow: Flow, *, follows: bool, cut: Cut) -> Finding:
    tail = (
        f"its tasks and timers follow flow version {flow.version[:12]}"
        if follows
        else f"and its tasks or timers are not what flow version {flow.version[:12]} gives"
    )
    return Finding(
        DIFFERS,
        "override",
        f"{step.describe()}: a professional judgement, not derived from the register; {tail}",
        cut=cut.describe(),
    )


def _undo(step: Step, previous: Step | None) -> Finding:
    """An undo follows when it withdraws exactly the step before it, an action, by the person
    who recorded that action, within the window (``core.undo``)."""
    d = step.first.decision
    assert isinstance(d, ActionUndone)
    text = step.describe()
    if previous is None or previous.kind != ACTION:
        return Finding(DIFFERS, "undo", f"{text}: the step before it is not a staff action")
    head = previous.first.decision
    problems = []
    if len(previous.records) != d.undoes:
        problems.append(f"it withdraws {d.undoes} records but the action wrote {len(previous.records)}")
    if getattr(head, "by", None) != d.by or step.first.actor != d.by:
        problems.append(f"the action was recorded by {getattr(head, 'by', '?')}, not {d.by}")
    if step.first.recorded_at - previous.first.recorded_at > UNDO_WINDOW:
        problems.append("it was written more than 15 minutes after the action")
    if problems:
        return Finding(DIFFERS, "undo", f"{text}: {'; '.join(problems)}")
    return Finding(SAME, detail=text)


def _migration(inputs: ReplayInputs, step: Step, case: Case) -> Finding:
    d = step.first.decision
    assert isinstance(d, FlowMigrated)
    problems = []
    if case.flow_version and d.from_version != case.flow_version:
        problems.append(
            f"it names {d.from_version[:12]} as the old version but the case was on "
            f"{case.flow_version[:12]}"
        )
    if d.to_version not in inputs.flows:
        problems.append(f"flow version {d.to_version[:12]} is not stored")
    text = f"{step.describe()} ({d.from_version[:12]} → {d.to_version[:12]})"
    if problems:
        return Finding(DIFFERS, "flow_version", f"{text}: {'; '.join(problems)}")
    return Finding(SAME, detail=text)


# -- running the engine -------------------------------------------------------------------------


def _attempts(inputs: ReplayInputs, step: Step) -> list[_Attempt]:
    """The readings to try, most faithful first: the service's view, then a backtest's."""
    cal = inputs.calendar
    today = cal.index_on_or_before(step.on)
    if step.morning:
        previous = today - 1 if cal.is_school_day(step.on) else today
        days = [d for d in (previous, today) if d >= 0]
    else:
        days = [today]
    written = step.first.recorded_at
    out = []
    for day in dict.fromkeys(days):
        out.append(_Attempt(Cut(written), day))
        out.append(_Attempt(Cut(end_of_day(cal, day)), day))
        if inputs.register.imported_at is not None:
            out.append(_Attempt(Cut(written, imported_by=written), day))
    return out


def _run(
    inputs: ReplayInputs, flow: Flow, step: Step, books: CaseBooks, attempt: _Attempt
) -> list[dict[str, Any]] | str:
    """What the engine decides for this step on this reading (a refusal as its message)."""
    try:
        if step.kind == EVENING:
            return _evening(inputs, flow, step, books, attempt)
        book = books.book(flow)
        minimum = flow.definition.min_possible_sessions
        facts = inputs.register.facts(attempt.cut, attempt.day, minimum)
        counts = inputs.register.counts(attempt.cut, attempt.day)
        env = DayEnv(book, facts, counts, family_read(inputs, step))
        single = step.stimulus()
        assert single is not None
        moment = Moment(step.on, step.at)
        out = evaluation.evaluate(book.ctx, book.case(0), env, 0, single, moment)
        return [d.to_event() for d in out.decisions]
    except (InputError, KeyError, ValueError) as exc:
        return getattr(exc, "summary", None) or str(exc)


def _evening(
    inputs: ReplayInputs, flow: Flow, step: Step, books: CaseBooks, attempt: _Attempt
) -> list[dict[str, Any]]:
    """The pupil's evening (``core.evaluation.evening``) on one environment; of the readings
    ``amended_readings`` offers, the first that gives the records (else the first)."""
    minimum = flow.definition.min_possible_sessions
    facts = inputs.register.facts(attempt.cut, attempt.day, minimum)
    counts = inputs.register.counts(attempt.cut, attempt.day)
    moment = Moment(step.on, step.at)
    wanted = [dict(b) for b in step.bodies]
    first: list[dict[str, Any]] | None = None
    term_end = _is_term_end(inputs.calendar, step.on)
    family = family_read(inputs, step)
    for amended in amended_readings(step):
        book = books.book(flow, fresh=True)
        env = DayEnv(book, facts, counts, family)
        decided = evaluation.evening(
            book.ctx, book.case(0), env, 0, moment, amended=amended, screened=None,
            term_end=term_end,
        )  # fmt: skip
        got = [d.to_event() for d in decided.decisions]
        if got == wanted:
            return got
        first = got if first is None else first
    assert first is not None
    return first


def family_read(inputs: ReplayInputs, step: Step) -> Mapping[str, FloatArray] | None:
    """The family facts the step was decided on: its school day's, read at the instant it was
    recorded (the service's evening, timer or action reads them at the instant it writes
    with), whatever register reading is tried."""
    if inputs.family is None:
        return None
    return inputs.family(inputs.calendar.index_on_or_before(step.on), step.first.recorded_at)


def _is_term_end(cal: SchoolCalendar, on: date) -> bool:
    if not cal.is_school_day(on):
        return False
    return is_term_end(cal, cal.day_index(on))


def _describe(got: list[dict[str, Any]] | str) -> tuple[str, ...]:
    if isinstance(got, str):
        return (f"refused: {got}",)
    return tuple(describe_event(e) for e in got)
