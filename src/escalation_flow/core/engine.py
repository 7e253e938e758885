"""The engine: what happens to one case, given the flow, the facts and the time.

``decide(ctx, case, env, now, stimulus)`` is pure: no database, scheduler, logger or clock.
It returns the decisions to record, in order; ``core.case.apply`` folds them into the case.

Stimuli and what they do:

- ``daily`` (after the registers close): escalate to the highest stage whose entry holds, if it is
  above the case's stage (opening a case when there is none); otherwise try the state's ``daily``
  transitions. Cases never move down or close on facts alone: only transitions do that.
- ``timer`` (a review comes due): the timer fires once; the state's transitions for that timer
  are tried in order and the first whose guard holds is taken.
- ``action`` (staff completed a task or recorded an event): recorded, then the transitions for
  that task (with its outcome) or event are tried.

Moving the case is ``core/state_moves.py``'s (a one-way dependency): leaving a state cancels
its timers and supersedes its open tasks; entering one creates its tasks and arms its timers,
with due dates counted on the school calendar.
"""

from __future__ import annotations

from collections.abc import Callable

from escalation_flow.core.case import AMENDED, CLOSED, ESCALATION, NO_CASE, ArmedTimer, Case
from escalation_flow.core.context import Context, Moment
from escalation_flow.core.decisions import (
    CaseClosed,
    Decision,
    EventRecorded,
    Reason,
    StageOverridden,
    Stimulus,
    TaskCompleted,
    TaskSuperseded,
    TimerFired,
)
from escalation_flow.core.definition import DAILY, TERM_END, Stage
from escalation_flow.core.due_dates import due_date
from escalation_flow.core.fact_names import REVIEW_FACTS
from escalation_flow.core.state_moves import (
    Decided,
    Env,
    choose,
    enter,
    entry_state,
    facts_named,
    follow,
    goto,
    leave,
    opened,
    side_actions,
    take,
    task_created,
    timer_armed,
)
from escalation_flow.core.timer_lengths import next_due, timer_length
from escalation_flow.errors import ActionError

# ``Context``, ``Moment`` and ``due_date`` live in their own modules; the service still imports
# them from here.
__all__ = ["Context", "Moment", "decide", "due_date", "escalation_target"]


def decide(
    ctx: Context,
    case: Case,
    env: Env,
    now: Moment,
    stimulus: Stimulus,
    *,
    entered: Callable[[], Env | None] | None = None,
) -> tuple[list[Decision], Case]:
    """The decisions one stimulus leads to for one case, and the case they leave.

    ``core.evaluation.evaluate`` is the one caller: it builds ``env`` (the pupil's facts, and a
    firing review timer's) the same way for the daemon, the backtest and replay, and, for
    ``amended``, ``entered``: the pupil's names on the day the case entered its state, the
    register's as known now and the case's as they stood then (``evaluation._on_entry``)."""
    out = Decided(case)
    if stimulus.kind == "daily":
        screened = stimulus.extra.get("screened_stage")
        if not _escalate(ctx, out, env, now, screened):
            _listen(ctx, out, env, now, DAILY)
        else:  # beside the ladder: the evening's side actions whatever the stage did
            side_actions(ctx, out, env, now, DAILY)
    elif stimulus.kind == "term_end":
        _listen(ctx, out, env, now, TERM_END)
    elif stimulus.kind == "timer":
        _fire(ctx, out, env, now, stimulus.name)
    elif stimulus.kind == "action":
        _act(ctx, out, env, now, stimulus)
    elif stimulus.kind == "override":
        _override(ctx, out, env, now, stimulus)
    elif stimulus.kind == "amended":
        _reconsider(ctx, out, env, now, entered)
    else:
        raise ValueError(f"unknown stimulus kind {stimulus.kind!r}")
    return out.decisions, out.case


def escalation_target(ctx: Context, env: Env, current_stage: int) -> Stage | None:
    """The highest stage whose entry holds, if above ``current_stage``."""
    for stage in ctx.escalating_stages:
        if stage.number <= current_stage:
            return None
        if ctx.flow.entry[stage.number].holds(env):
            return stage
    return None


# -- the stimuli ---------------------------------------------------------------------------------


def _escalate(ctx: Context, out: Decided, env: Env, now: Moment, screened: int | None) -> bool:
    """Enter the highest stage whose entry holds, if above the case's. ``screened``: that stage's
    number as the day's vectorised screen found it (0: none), sparing the guards a second run."""
    current = out.case.stage if out.case.is_open else 0
    if screened is None:
        target = escalation_target(ctx, env, current)
    else:
        target = ctx.flow.stage(screened) if screened > current else None
    if target is None:
        return False
    held = [(cid, g) for cid, g in ctx.flow.criteria[target.number] if g.holds(env)]
    guard = " or ".join(g.source for _, g in held) or ctx.flow.entry[target.number].source
    reason = Reason(
        trigger=ESCALATION,
        criterion=",".join(cid for cid, _ in held) or None,
        guard=guard,
        facts=facts_named(ctx, env, tuple(g for _, g in held)),
        quote=_criteria_quote(target, {cid for cid, _ in held}),
    )
    goto(ctx, out, env, now, entry_state(ctx, target, env), reason)
    return True


def _listen(ctx: Context, out: Decided, env: Env, now: Moment, trigger: str) -> None:
    """A day or a term ends: the state's transitions for it, else its recurring tasks."""
    state = out.case.state
    follow(ctx, out, env, now, trigger, None)
    side_actions(ctx, out, env, now, trigger)
    if out.case.state != state or not out.case.is_open:
        return
    for recurring in ctx.flow.state(state).state.recurring:
        if recurring.trigger != trigger:
            continue
        if recurring.when is None or ctx.flow.guard(recurring.when).holds(env):
            out.emit(task_created(ctx, recurring.task, now, out.case.task_serial + 1))


def _fire(ctx: Context, out: Decided, env: Env, now: Moment, timer_key: str) -> None:
    armed = next((t for t in out.case.timers if t.key == timer_key), None)
    if armed is None:
        return  # already fired or cancelled: firing twice does nothing
    out.emit(
        TimerFired(on=now.on, at=now.at, timer_key=armed.key, timer=armed.timer, due=armed.due)
    )
    state, made = out.case.state, len(out.decisions)
    follow(ctx, out, env, now, armed.timer, None)
    if len(out.decisions) == made and out.case.state == state and out.case.is_open:
        _repeat(ctx, out, env, now, armed)


def _repeat(ctx: Context, out: Decided, env: Env, now: Moment, armed: ArmedTimer) -> None:
    """A timer fired and no move was taken: its recurring tasks, and a repeating timer (``every``)
    armed again for its next due date."""
    state = ctx.flow.state(out.case.state).state
    for recurring in state.recurring:
        if recurring.trigger != armed.timer:
            continue
        if recurring.when is None or ctx.flow.guard(recurring.when).holds(env):
            out.emit(task_created(ctx, recurring.task, now, out.case.task_serial + 1))
    timer = next((t for t in state.timers if t.id == armed.timer), None)
    if timer is None or timer.every is None:
        return
    length = timer_length(ctx, timer, env, repeat=True)
    due = next_due(ctx, armed.due, length, now.on)
    out.emit(timer_armed(ctx, timer, now, out.case.timer_serial + 1, length, due))


def _act(ctx: Context, out: Decided, env: Env, now: Moment, stimulus: Stimulus) -> None:
    name, by = stimulus.name, stimulus.by or "unknown"
    task = out.case.open_task_named(name) if out.case.is_open else None
    if task is not None:
        outcome = _task_outcome(task.task, task.outcomes, stimulus.outcome)
        out.emit(
            TaskCompleted(
                on=now.on,
                at=now.at,
                task_key=task.key,
                task=task.task,
                outcome=outcome,
                by=by,
                note=stimulus.note,
            )
        )
        follow(ctx, out, env, now, task.task, outcome)
        return
    event = next((e for e in ctx.flow.definition.events if e.id == name), None)
    if event is None:
        raise ActionError(_no_such_action(ctx, out.case, name))
    if event.outcomes and stimulus.outcome is not None and stimulus.outcome not in event.outcomes:
        raise ActionError(
            f"{name}: outcome {stimulus.outcome!r} is not one of {', '.join(event.outcomes)}"
        )
    chosen = choose(ctx, out.case, env, name, stimulus.outcome)
    if chosen is not None and not out.case.is_open:
        # the event opens the case (e.g. a safeguarding concern): it belongs inside it
        out.emit(opened(ctx, now))
    out.emit(
        EventRecorded(
            on=now.on, at=now.at, event=name, by=by, outcome=stimulus.outcome, note=stimulus.note
        )
    )
    if chosen is not None:
        take(ctx, out, env, now, name, chosen)
    side_actions(ctx, out, env, now, name)


def _reconsider(
    ctx: Context, out: Decided, env: Env, now: Moment, entered: Callable[[], Env | None] | None
) -> None:
    """Earlier marks changed. If what led the case into its state (the stage's entry criteria,
    or the guard of the transition taken) no longer holds on the amended register on the day the
    step was taken (``entered``; a review's guard: is false, whatever its window), nor today:

    - nothing done there yet: the step is undone. A case the step opened closes; otherwise the
      case goes back to the state it came from (tasks it already completed are not set again);
    - something done there already: letters, referrals and legal steps not yet done are
      superseded, and the case stays for its review to decide.

    The history keeps the first decision and this one side by side, each with its facts."""
    case = out.case
    if not case.is_open or case.entered_by is None:
        return
    if case.entered_by == ESCALATION:
        guard = ctx.flow.entry.get(case.stage)
    else:
        guard = ctx.flow.guards.get(case.entered_by)
    if guard is None or guard.holds(env):
        return
    # Today's facts alone would undo a step the amendment did not touch: a pupil whose figures
    # have since improved (a half term's count back to 0) on any correction, however unrelated.
    then = env if entered is None else entered()
    if then is None:  # taken before the calendar's first day: on no mark of this register
        return
    if guard.names & REVIEW_FACTS:
        # A review's judgement: its window is known only while its timer fires, unknown now,
        # which is not the amendment's doing. Undone only when false whatever the window says.
        if guard.scalar(then) != 0.0:
            return
    elif guard.holds(then):
        return
    facts = facts_named(ctx, env, (guard,))
    shown = ", ".join(f"{k}={v}" for k, v in facts if v is not None)
    why = f"marks amended: {guard.source} no longer holds ({shown})"
    if case.acted_in_state == 0:
        reason = Reason(trigger=AMENDED, guard=guard.source, facts=facts, quote=why)
        if case.previous_state in (NO_CASE, CLOSED):
            leave(out, now, why)
            out.emit(CaseClosed(on=now.on, at=now.at, reason=reason))
        else:
            goto(ctx, out, env, now, case.previous_state, reason, returning=True, why=why)
        return
    for task in case.tasks:
        if task.approval:
            out.emit(
                TaskSuperseded(on=now.on, at=now.at, task_key=task.key, task=task.task, why=why)
            )


def _override(ctx: Context, out: Decided, env: Env, now: Moment, stimulus: Stimulus) -> None:
    """A professional judgement: put the case in a stage (its initial state) or close it."""
    number = int(stimulus.extra["stage"])
    target = CLOSED if number == 0 else entry_state(ctx, ctx.flow.stage(number), env)
    same_stage = target != CLOSED and number == out.case.stage
    keep = ctx.side_tasks if same_stage else frozenset()
    leave(out, now, f"stage overridden by {stimulus.by}", keep=keep)
    if target == CLOSED:
        reason = Reason(trigger="override", quote=stimulus.note)
        out.emit(CaseClosed(on=now.on, at=now.at, reason=reason))
        return
    if not out.case.is_open:
        out.emit(opened(ctx, now))
    out.emit(
        StageOverridden(
            on=now.on,
            at=now.at,
            stage=number,
            state=target,
            from_stage=out.case.stage,
            by=stimulus.by or "unknown",
            reason_text=stimulus.note or "",
        )
    )
    enter(ctx, out, env, now, target)


# -- small helpers ---------------------------------------------------------------------------------


def _task_outcome(task: str, outcomes: tuple[str, ...], given: str | None) -> str:
    if given is None:
        if len(outcomes) > 1:
            raise ActionError(f"{task}: say which outcome ({', '.join(outcomes)})")
        return outcomes[0]
    if given not in outcomes:
        raise ActionError(f"{task}: outcome {given!r} is not one of {', '.join(outcomes)}")
    return given


def _no_such_action(ctx: Context, case: Case, name: str) -> str:
    tasks = {t.id for s in ctx.flow.definition.stages for st in s.states.values() for t in st.tasks}
    if name in tasks:
        open_tasks = ", ".join(t.task for t in case.tasks) or "none"
        return f"{name}: no such task is open for this pupil (open tasks: {open_tasks})"
    return f"{name}: not a task or event of flow {ctx.flow.id}"


def _criteria_quote(stage: Stage, held: set[str]) -> str | None:
    if stage.entry is None:
        return None
    quotes = [c.quote for c in stage.entry.criteria() if c.id in held and c.quote]
    return " / ".join(quotes) or stage.entry.quote or stage.quote
