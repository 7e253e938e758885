"""Replay: re-run a case's flow on the register as it stood, step by step, and compare.

For every step of the history (``audit.steps``) the replay takes the case exactly as the
history left it before that step, the flow version the step was recorded under, and one
pupil's register read at a knowledge cut, and puts the step to the one evaluation again
(``audit.step_replay``). Two readings:

- **as known then**: the marks known when the step was written (its ``recorded_at``; failing
  that, the end of the school day whose facts it read, which is what a backtest sees; and, when
  import times are known, only marks already imported by then). ``same``: the step follows.
- **as known now**: every mark stored today. Where the answer changes, the replay names the
  marks amended since (``mark_amended_later``).

Verdicts (``Finding.reason`` when ``verdict == "differs"``):

- ``override``: a member of staff set the stage; nothing in the register led to it.
- ``flow_version``: the step was recorded under another version than the case was on (no
  recorded migration), or that version's text is not stored.
- ``task_outcome``: a staff action that the flow cannot apply as recorded (no such open task,
  an outcome the flow does not allow, or a different path from that outcome).
- ``mark_amended_later``: marks changed after the step; they are named.
- ``unexplained``: none of these.

Pure: history, flows, calendar and marks come in; nothing is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escalation_flow.audit.quiet_days import QuietDay, quiet_day
from escalation_flow.audit.step_replay import CaseBooks, ReplayInputs, StepReplay, replay_step
from escalation_flow.audit.steps import EVENING, Step, split_steps
from escalation_flow.core.case import Case


@dataclass(frozen=True)
class CaseReplay:
    school: str
    pupil: str
    steps: tuple[StepReplay, ...]
    case: Case  # as the history leaves it (at ``as_of`` when given)
    as_of: datetime | None = None
    #: evenings with no record on which the flow decides something (``audit.quiet_days``)
    quiet: tuple[QuietDay, ...] = ()

    @property
    def agrees(self) -> bool:
        steps_follow = all(s.then.same for s in self.steps if s.then.reason != "override")
        return steps_follow and not self.quiet


def replay_case(inputs: ReplayInputs, *, as_of: datetime | None = None) -> CaseReplay:
    """Every step of the case's history, replayed as known then and as known now, and every
    quiet evening between them checked for a decision the flow would have taken."""
    records = sorted(inputs.history, key=lambda r: r.seq)
    if as_of is not None:
        records = [r for r in records if r.recorded_at <= as_of]
    books = CaseBooks(inputs)
    out: list[StepReplay] = []
    quiet: list[QuietDay] = []
    accounted: int | None = None  # the last school day whose evening is accounted for
    for step in split_steps(records):
        before, after = _evenings_around(inputs, step)
        if accounted is not None:
            quiet += _quiet(inputs, books, range(accounted + 1, before + 1))
        out.append(replay_step(inputs, step, books))
        books.advance(step.decisions, step.first.flow_version, step)
        accounted = after
    if accounted is not None:
        quiet += _quiet(inputs, books, range(accounted + 1, _last_evening(inputs, as_of) + 1))
    return CaseReplay(inputs.school, inputs.pupil, tuple(out), books.case, as_of, tuple(quiet))


def _evenings_around(inputs: ReplayInputs, step: Step) -> tuple[int, int]:
    """The last school day whose evening came before ``step``, and after it."""
    cal = inputs.calendar
    day = cal.index_on_or_before(step.on)
    if step.kind == EVENING:
        return day - 1, day
    if not cal.is_school_day(step.on):
        return day, day  # a weekend action: that week's evenings all came before it
    evaluated = inputs.evenings.evaluated_at.get(step.on) if inputs.evenings else None
    if evaluated is not None and evaluated < step.first.recorded_at:
        return day, day  # an action after the day's evaluation
    return day - 1, day - 1


def _last_evening(inputs: ReplayInputs, as_of: datetime | None) -> int:
    """The last school day to check after the case's last record: the school's last evaluated
    day (at ``as_of``); -1 when the store does not say."""
    if inputs.evenings is None:
        return -1
    days = [d for d, at in inputs.evenings.evaluated_at.items() if as_of is None or at <= as_of]
    if not days:
        return -1
    return inputs.calendar.index_on_or_before(max(days))


def _quiet(inputs: ReplayInputs, books: CaseBooks, days: range) -> list[QuietDay]:
    if not days:
        return []
    version = books.case.flow_version or books.last_version
    flow = inputs.flows.get(version)
    if flow is None:
        return []  # the step after says the version is missing
    out: list[QuietDay] = []
    previous = None  # the day of the last finding
    for day in days:
        found = quiet_day(
            day,
            inputs.calendar,
            inputs.register,
            flow,
            lambda: books.book(flow, fresh=True),
            inputs.evenings,
            inputs.family,
        )
        if found is None:
            continue
        if out and previous == day - 1 and out[-1].continued_by(found):
            out[-1] = out[-1].extended(found)  # one finding for a run of days
        else:
            out.append(found)
        previous = day
    return out
