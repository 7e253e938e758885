"""One ``transitions`` state machine per flow version: the only module importing ``transitions``.

States are the flow's full state names (``stage_2.letter_due``), ``closed`` (final) and
``none`` (a pupil without an open case). Every ``on`` entry becomes a machine transition from its
state (stage-level entries from every state of the stage, ``anywhere`` entries from every state,
and from ``none``) whose conditions are the entry's outcome filter and compiled guard. For one
(state, trigger) the machine keeps the entries in the flow's order: the state's own, the
stage's, then ``anywhere``; the first whose conditions pass is taken.

This is the one transition table: the engine asks it where a case goes (``next_state``) and
which entries it tried first (``entries``), and the day's screen asks it which states listen to
``daily`` (``entries``). Nothing else walks ``Flow.transitions_from``.

The machine is built once per flow version and cached; it carries no pupil. ``next_state`` asks
"from state S on trigger T, with these facts (and this task outcome), where to?" by walking the
machine's own transitions for (S, T) and checking their conditions directly: a dict lookup and a
few guard calls, cheap enough for tens of thousands of cases a day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transitions import Machine

from escalation_flow.core import definition as d
from escalation_flow.core.case import NO_CASE
from escalation_flow.core.guards import Guard

_CACHE_SIZE = 64
_cache: dict[str, FlowMachine] = {}


@dataclass(frozen=True)
class Move:
    """The answer of ``next_state``: where a case goes and which ``on`` entry sent it."""

    source: str
    trigger: str
    target: str  # a full state name or "closed"
    entry: d.Transition  # the flow's entry (its quote and why explain the move)
    outcome: str | None = None

    @property
    def target_stage(self) -> int | None:
        """The stage number of the target (None for closed)."""
        return stage_number(self.target)


def stage_number(full_name: str) -> int | None:
    if full_name == d.CLOSED:
        return None
    return int(full_name.split(".", 1)[0].removeprefix("stage_"))


class _Check:
    """A transition's condition: the outcome filter and the guard (unknown does not pass)."""

    __slots__ = ("entry", "guard")

    def __init__(self, entry: d.Transition, guard: Guard | None) -> None:
        self.entry = entry
        self.guard = guard

    def __call__(self, env: Mapping[str, Any], outcome: str | None) -> bool:
        if self.entry.outcome is not None and outcome != self.entry.outcome:
            return False
        return self.guard is None or self.guard.holds(env)


class FlowMachine:
    """The state machine of one flow version (no model attached: cases live elsewhere)."""

    def __init__(self, flow: d.Flow) -> None:
        self.flow = flow
        self.states: tuple[str, ...] = tuple(d.state_names(flow.definition))
        self._machine = Machine(
            model=None,
            states=[*self.states[:-1], {"name": d.CLOSED, "final": True}, NO_CASE],
            initial=None,
            auto_transitions=False,
            send_event=False,
        )
        for name in self.states[:-1]:
            ref = flow.state(name)
            for entry in flow.transitions_from(name):
                guard = flow.guard(entry.when) if entry.when else None
                self._machine.add_transition(
                    entry.trigger,
                    name,
                    flow.resolve(entry.to, ref.stage),
                    conditions=[_Check(entry, guard)],
                )
        for entry in flow.definition.anywhere:  # a pupil without a case: ``to`` from the top
            guard = flow.guard(entry.when) if entry.when else None
            self._machine.add_transition(
                entry.trigger, NO_CASE, flow.resolve(entry.to), conditions=[_Check(entry, guard)]
            )
        # (state, trigger) -> [(target, check)], read back from the machine in its order
        self._table: dict[tuple[str, str], tuple[tuple[str, _Check], ...]] = {}
        for name in (*self.states[:-1], NO_CASE):
            for trigger in self._machine.get_triggers(name):
                rows: list[tuple[str, _Check]] = []
                for transition in self._machine.get_transitions(trigger, name):
                    (condition,) = transition.conditions
                    assert isinstance(condition.func, _Check)
                    rows.append((str(transition.dest), condition.func))
                self._table[(name, trigger)] = tuple(rows)

    @property
    def version(self) -> str:
        return self.flow.version

    def entries(self, state: str, trigger: str) -> tuple[d.Transition, ...]:
        """The flow's entries for ``trigger`` tried in ``state``, in the order they are tried."""
        return tuple(check.entry for _, check in self._table.get((state, trigger), ()))

    def triggers(self, state: str) -> tuple[str, ...]:
        """The triggers that can move a case out of ``state`` (in first-use order)."""
        if state == d.CLOSED:
            return ()
        return tuple(self._machine.get_triggers(state))

    @property
    def all_triggers(self) -> tuple[str, ...]:
        return tuple(self._machine.events)

    def next_state(
        self,
        state: str,
        trigger: str,
        facts: Mapping[str, Any],
        outcome: str | None = None,
    ) -> Move | None:
        """Where ``trigger`` takes a case in ``state``, or None if no entry applies.

        ``facts`` must hold every name the guards read: facts, case facts, ``*_recorded`` and
        the parameters for the day's term (``Flow.environment`` adds those).
        """
        for target, check in self._table.get((state, trigger), ()):
            if check(facts, outcome):
                return Move(state, trigger, target, check.entry, outcome)
        return None

    def moves(self) -> list[tuple[str, str, str, d.Transition]]:
        """Every (source, trigger, target, entry) between the flow's states, for checks and
        pictures (``none``, the pupil without a case, is not one of them)."""
        return [
            (source, trigger, target, check.entry)
            for (source, trigger), rows in self._table.items()
            if source != NO_CASE
            for target, check in rows
        ]


def machine_for(flow: d.Flow) -> FlowMachine:
    """The cached machine for ``flow``'s version (built on first use)."""
    if not flow.version:  # an unversioned flow (built in a test) is not cached
        return FlowMachine(flow)
    key = f"{flow.id}@{flow.version}"
    machine = _cache.get(key)
    if machine is None:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        machine = _cache[key] = FlowMachine(flow)
    return machine
