"""What the engine decides: plain, frozen records. The history of a case is a list of these.

Every decision carries the school day it was taken on (``on``) and the instant (``at``, UTC).
Decisions that change a case carry a ``Reason``: the trigger, the criterion or guard that held,
and the fact values it held on, so that "why did this happen?" is answered from the record alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import Any, TypeVar

FactValue = float | int | str | None
_Record = TypeVar("_Record")
_NO_ARGUMENT = object()  # the default of a field with a default factory, as in dataclasses


def quick_init(cls: type[_Record]) -> type[_Record]:
    """Give a frozen dataclass an ``__init__`` that sets its ``__dict__`` at once.

    The dataclass's own sets each field through ``object.__setattr__`` (the price of frozen),
    which made building records a visible part of a year's backtest (hundreds of thousands of
    decisions, stimuli and tasks). The signature is the same (the same parameters, defaults and
    default factories, and the same errors for a missing or unknown argument); so are equality,
    hashing, ``repr`` and pickling, which read the same ``__dict__``. Apply it above
    ``@dataclass``, to a class without ``__post_init__``.
    """
    assert not hasattr(cls, "__post_init__"), cls
    positional: list[str] = []
    keywords: list[str] = []
    items: list[str] = []
    scope: dict[str, Any] = {"_set": object.__setattr__, "_none": _NO_ARGUMENT}
    for f in fields(cls):  # type: ignore[arg-type]
        assert f.init, f.name
        value = f.name
        if f.default_factory is not MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            value = f"_factory_{f.name}() if {f.name} is _none else {f.name}"
            param = f"{f.name}=_none"
        elif f.default is not MISSING:
            scope[f"_default_{f.name}"] = f.default
            param = f"{f.name}=_default_{f.name}"
        else:
            param = f.name
        (keywords if f.kw_only else positional).append(param)
        items.append(f"{f.name!r}: {value}")
    params = ", ".join(["self", *positional, *(["*", *keywords] if keywords else [])])
    source = f"def __init__({params}):\n    _set(self, '__dict__', {{{', '.join(items)}}})\n"
    exec(source, scope)  # the names are the class's own fields, as in dataclasses
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@quick_init
@dataclass(frozen=True, kw_only=True)
class Reason:
    trigger: str  # "daily", a timer id, a task id, a manual event id, "override"
    criterion: str | None = None  # the entry criterion's id, or the transition's label
    guard: str | None = None  # the guard text that held
    facts: tuple[tuple[str, FactValue], ...] = ()  # the fact values the guard named
    quote: str | None = None  # the plan's own words

    def facts_dict(self) -> dict[str, FactValue]:
        return dict(self.facts)


@dataclass(frozen=True, kw_only=True)
class Decision:
    on: date
    at: datetime

    @property
    def type(self) -> str:
        return _TYPE_NAMES[type(self)]

    def to_event(self) -> dict[str, Any]:
        """The decision as a backtest/history event: ``date``, ``type``, then its fields."""
        out: dict[str, Any] = {"date": self.on.isoformat(), "type": self.type}
        reason: Reason | None = None
        for name in _event_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Reason):
                reason = value
            elif value is not None and value != ():
                out[name] = _jsonable(value)
        if reason is not None:
            # The contract's shape: ``reason`` maps the facts a decision rested on to their values;
            # how it was reached sits beside it.
            out["reason"] = {k: _jsonable(v) for k, v in reason.facts}
            for key in ("trigger", "criterion", "guard", "quote"):
                text = getattr(reason, key)
                if text is not None:
                    out[key] = text
        return out


@quick_init
@dataclass(frozen=True, kw_only=True)
class CaseOpened(Decision):
    flow: str
    flow_version: str


@quick_init
@dataclass(frozen=True, kw_only=True)
class StageEntered(Decision):
    stage: int
    state: str
    from_stage: int
    reason: Reason


@quick_init
@dataclass(frozen=True, kw_only=True)
class StateEntered(Decision):
    state: str
    from_state: str
    reason: Reason


@quick_init
@dataclass(frozen=True, kw_only=True)
class TaskCreated(Decision):
    task_key: str  # unique within the case: "<task id>#<n>"
    task: str
    role: str
    kind: str
    due: date
    approval: bool
    template: str | None = None
    outcomes: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, kw_only=True)
class TaskCompleted(Decision):
    task_key: str
    task: str
    outcome: str
    by: str
    note: str | None = None


@quick_init
@dataclass(frozen=True, kw_only=True)
class TaskSuperseded(Decision):
    task_key: str
    task: str
    why: str


@quick_init
@dataclass(frozen=True, kw_only=True)
class TimerArmed(Decision):
    timer_key: str  # unique within the case: "<timer id>#<n>"
    timer: str
    due: date
    fire_at: datetime  # UTC
    rule: str  # e.g. "15 school days", for the auditor
    calendar_version: str


@quick_init
@dataclass(frozen=True, kw_only=True)
class TimerFired(Decision):
    timer_key: str
    timer: str
    due: date


@quick_init
@dataclass(frozen=True, kw_only=True)
class TimerCancelled(Decision):
    timer_key: str
    timer: str
    why: str


@quick_init
@dataclass(frozen=True, kw_only=True)
class EventRecorded(Decision):
    event: str
    by: str
    outcome: str | None = None
    note: str | None = None


@quick_init
@dataclass(frozen=True, kw_only=True)
class StageOverridden(Decision):
    stage: int
    state: str
    from_stage: int
    by: str
    reason_text: str


@quick_init
@dataclass(frozen=True, kw_only=True)
class CaseClosed(Decision):
    reason: Reason


@quick_init
@dataclass(frozen=True, kw_only=True)
class FlowMigrated(Decision):
    """A member of staff moved an open case onto another version of its flow (recorded, so a
    replay knows which version each later decision was taken under)."""

    from_version: str
    to_version: str
    by: str
    reason_text: str


@quick_init
@dataclass(frozen=True, kw_only=True)
class ActionUndone(Decision):
    """A correction: the member of staff who recorded an action withdrew it while nothing had
    followed from it. The ``undoes`` records just before this one (the action and what it
    decided) stay in the history; the case returns to the state they found it in."""

    action: str  # the task or event id that was recorded
    outcome: str | None = None
    by: str
    undoes: int  # how many records the action wrote (the ones immediately before this one)
    note: str | None = None


_TYPE_NAMES: dict[type, str] = {
    CaseOpened: "case_opened",
    StageEntered: "stage_entered",
    StateEntered: "state_entered",
    TaskCreated: "task_created",
    TaskCompleted: "task_completed",
    TaskSuperseded: "task_superseded",
    TimerArmed: "timer_armed",
    TimerFired: "timer_fired",
    TimerCancelled: "timer_cancelled",
    EventRecorded: "event_recorded",
    StageOverridden: "stage_overridden",
    CaseClosed: "case_closed",
    FlowMigrated: "flow_migrated",
    ActionUndone: "action_undone",
}
DECISION_TYPES: dict[str, type[Decision]] = {v: k for k, v in _TYPE_NAMES.items()}


#: per decision class, its fields but ``on`` and ``at`` in order (``fields`` builds its tuple
#: afresh on every call, and every history record written calls ``to_event``)
_EVENT_FIELDS: dict[type, tuple[str, ...]] = {}


def _event_fields(kind: type) -> tuple[str, ...]:
    names = _EVENT_FIELDS.get(kind)
    if names is None:
        names = tuple(f.name for f in fields(kind) if f.name not in ("on", "at"))
        _EVENT_FIELDS[kind] = names
    return names


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # most of a record's values: asked first
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if v is not None and v != ()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN: unknown
        return None
    return value


@quick_init
@dataclass(frozen=True)
class Stimulus:
    """What makes the engine look at a case: the day's evaluation, a timer, or a staff action."""

    kind: str  # "daily" | "timer" | "action" | "term_end"
    name: str = "daily"  # timer key, action name
    outcome: str | None = None
    by: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decision_from_event(event: Mapping[str, Any], at: datetime) -> Decision:
    """The inverse of ``Decision.to_event``: a stored history event back into its decision.

    ``at`` is stored beside the event (it is not part of the contract's event shape).
    """
    kind = DECISION_TYPES.get(str(event.get("type")))
    if kind is None:
        raise ValueError(f"unknown event type {event.get('type')!r}")
    values: dict[str, Any] = {"on": date.fromisoformat(event["date"]), "at": at}
    for f in fields(kind):
        if f.name in ("on", "at"):
            continue
        if f.name == "reason":
            values["reason"] = Reason(
                trigger=event.get("trigger", ""),
                criterion=event.get("criterion"),
                guard=event.get("guard"),
                facts=tuple(sorted((event.get("reason") or {}).items())),
                quote=event.get("quote"),
            )
        elif f.name in event:
            values[f.name] = _from_json(f.name, event[f.name])
    return kind(**values)


_DATE_FIELDS = frozenset({"due"})
_INSTANT_FIELDS = frozenset({"fire_at"})


def _from_json(name: str, value: Any) -> Any:
    if name in _DATE_FIELDS and isinstance(value, str):
        return date.fromisoformat(value)
    if name in _INSTANT_FIELDS and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(value, list):
        return tuple(value)
    return value
