"""The flow schema: one school's escalation plan as frozen data.

A flow file (``flows/*.yaml``) reads into a ``FlowDefinition``; once its checks pass
(``core.checks``) it becomes a ``Flow``: the definition, its version (sha256 of the file) and its
guards compiled once (``core.guards``).

The model, top down:

- **Stages** are numbered as the plan numbers them. A *universal* stage (000/001's stage 1) holds
  every pupil and opens no case. Any other stage has an ``entry`` (criteria: ``any``/``all`` of
  guard expressions over named facts) and ``states``; a case enters the stage in its ``initial``
  state. Every school day the engine escalates a case to the highest stage whose entry holds, if
  that is above the case's stage. Cases move down or close only through transitions.
- **States** (full name ``stage_<n>.<id>``; ``closed`` ends a case) create **tasks** on entry
  (letters, calls, meetings, referrals, legal steps, each for a role, due after a duration, with
  outcomes; letters, referrals and legal steps need a named person's approval), arm **timers**
  (``after`` a duration, firing ``at`` a time of day) and list **transitions** (``on``): a trigger
  (a task id, a timer id, a manual event id, or ``daily``), an optional task outcome, an optional
  guard (``when``) and a target. For one trigger the first entry whose outcome and guard hold is
  taken, so the last entry without ``when`` is the "otherwise".
- **Conditions** name guards used in several places (above all what "improved" means).
- **Parameters** name the plan's numbers; a value may differ per term (plan 004).
- **Events** are what staff record by hand (reason given, did not attend, medical evidence, a
  safeguarding concern); their effects are the transitions they trigger. ``anywhere`` lists
  transitions tried in every open state (and, for an event, for a pupil with no case).
- **Universal actions** create tasks for any pupil without a case (first-day absence call,
  termly awards).

Every number and step carries ``quote`` (the plan's own words) and, where the plan leaves a choice
open, ``why`` (the choice made and its reason).
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from escalation_flow.core.guards import Guard

SLUG = r"^[a-z][a-z0-9_]*$"
FLOW_ID = r"^[a-z0-9][a-z0-9-]*$"
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
CLOSED = "closed"
#: Triggers that are neither a task, a timer nor an event.
DAILY = "daily"
TERM_END = "term_end"
UNIVERSAL_TRIGGERS = (DAILY, TERM_END)
TERMS = ("autumn", "spring", "summer")

Slug = Annotated[str, Field(pattern=SLUG)]
Text = Annotated[str, Field(min_length=1)]


class Role(StrEnum):
    CLASS_TEACHER = "class_teacher"
    ATTENDANCE_LEAD = "attendance_lead"
    ADMIN_STAFF = "admin_staff"
    HEADTEACHER = "headteacher"
    HEAD_OF_ACADEMY = "head_of_academy"
    FAMILY_LIAISON_OFFICER = "family_liaison_officer"
    CHILD_FAMILY_SUPPORT_WORKER = "child_family_support_worker"
    SENCO = "senco"
    WELLBEING_LEAD = "wellbeing_lead"
    PASTORAL_MANAGER = "pastoral_manager"
    DESIGNATED_SAFEGUARDING_LEAD = "designated_safeguarding_lead"
    ATTENDANCE_TEAM = "attendance_team"
    LOCAL_AUTHORITY = "local_authority"


class StateKind(StrEnum):
    ACTION = "action"  # something is to be done (a letter, a call) before monitoring
    MONITORING = "monitoring"  # support in place, data watched, a review may be armed
    MEETING = "meeting"  # a meeting with the family is booked or due
    REVIEW = "review"  # a review is due
    PANEL = "panel"  # an attendance panel meeting
    REFERRAL = "referral"  # referred out (local authority, social care); school liaises
    LEGAL = "legal"  # a legal step is being considered or taken
    MONITOR = "monitor"  # "no further action, monitor"
    DEESCALATED = "deescalated"  # moved down a stage, monitored there


class TaskKind(StrEnum):
    LETTER = "letter"
    CALL = "call"
    MEETING = "meeting"
    REFERRAL = "referral"
    REVIEW = "review"
    DISCUSSION = "discussion"
    VISIT = "visit"
    PLAN = "plan"
    LEGAL = "legal"
    AWARD = "award"
    OTHER = "other"


#: Kinds of task that must be approved by a named person before they count.
NEEDS_APPROVAL = frozenset({TaskKind.LETTER, TaskKind.REFERRAL, TaskKind.LEGAL})


class LegalLetter(StrEnum):
    """A letter that is a legal step (domain rule 1): it rests on unauthorised absence only."""

    PENALTY = "penalty"  # a penalty-notice warning or form: the 10 school weeks it cites
    NOTICE_TO_IMPROVE = "notice_to_improve"  # the first step of the penalty-notice framework
    ENFORCEMENT = "enforcement"  # an enforcement letter


#: The rules every flow keeps (``core.plan_rules``); a flow departs from one only by saying so.
PlanRule = Literal[
    "legal_needs_unauthorised",
    "legal_needs_compulsory_school_age",
    "penalty_needs_threshold",
    "safeguarding",
    "step_down_stays_down",
    "threshold_acted_on",
    "no_gap_between_bands",
    "letters_tell_the_truth",
    "percentages_wait",
]
PLAN_RULES: tuple[str, ...] = get_args(PlanRule)


class Approval(StrEnum):
    #: a named person approves it: every letter to a parent, referral and legal step
    REQUIRED = "required"
    NONE = "none"  # whoever completes it records it


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Amount = Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=SLUG)]


class Duration(_Model):
    """How long after something: school days, school weeks (holidays never count) or calendar days
    (legal deadlines only). A timer's amount may name a parameter (``{school_weeks:
    review_weeks}``): its value in the term of the day the timer is armed."""

    school_days: Amount | None = None
    school_weeks: Amount | None = None
    calendar_days: Amount | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Duration:
        amounts = (self.school_days, self.school_weeks, self.calendar_days)
        given = [n for n in amounts if n is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of school_days, school_weeks, calendar_days")
        return self

    @property
    def unit(self) -> Literal["school_days", "school_weeks", "calendar_days"]:
        if self.school_days is not None:
            return "school_days"
        return "school_weeks" if self.school_weeks is not None else "calendar_days"

    @property
    def amount(self) -> int:
        value = getattr(self, self.unit)
        if not isinstance(value, int):
            raise TypeError(f"{self} names a parameter: resolve it first")
        return value

    @property
    def parameter(self) -> str | None:
        """The parameter the amount names, if it names one."""
        value = getattr(self, self.unit)
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        return f"{getattr(self, self.unit)} {self.unit.replace('_', ' ')}"


class TermValues(_Model):
    autumn: float
    spring: float
    summer: float


class Parameter(_Model):
    """A named number of the plan; per term where the plan says so."""

    value: float | TermValues
    quote: Text | None = None
    why: Text | None = None

    def for_term(self, term: str) -> float:
        if isinstance(self.value, TermValues):
            return float(getattr(self.value, term))
        return float(self.value)


class Condition(_Model):
    """A named guard, reusable in ``when`` (e.g. what "improved" means)."""

    when: Text
    quote: Text | None = None
    why: Text | None = None


class Criterion(_Model):
    """One entry criterion: a guard with the plan's words for it."""

    id: Slug
    when: Text
    quote: Text | None = None
    why: Text | None = None
    #: ``intended``: this band may overlap another stage's band on purpose (say why).
    overlap: Literal["intended"] | None = None


def _criteria_tag(value: Any) -> str:
    if isinstance(value, Mapping) and ("any" in value or "all" in value):
        return "group"
    if isinstance(value, Criteria):
        return "group"
    return "criterion"


CriteriaItem = Annotated[
    Union[Annotated[Criterion, Tag("criterion")], Annotated["Criteria", Tag("group")]],  # noqa: UP007
    Discriminator(_criteria_tag),
]


class Criteria(_Model):
    """``any`` (one holds) or ``all`` (every one holds) of criteria or nested groups."""

    any: tuple[CriteriaItem, ...] | None = None
    all: tuple[CriteriaItem, ...] | None = None
    quote: Text | None = None
    why: Text | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Criteria:
        if (self.any is None) == (self.all is None):
            raise ValueError("give exactly one of any, all")
        if not self.items:
            raise ValueError("an empty list of criteria never holds")
        return self

    @property
    def mode(self) -> Literal["any", "all"]:
        return "any" if self.any is not None else "all"

    @property
    def items(self) -> tuple[Criterion | Criteria, ...]:
        return self.any if self.any is not None else (self.all or ())

    def criteria(self) -> Iterator[Criterion]:
        """Every criterion, depth first."""
        for item in self.items:
            if isinstance(item, Criterion):
                yield item
            else:
                yield from item.criteria()


class Task(_Model):
    """Work for a role, created when its state is entered (if ``when`` holds then)."""

    id: Slug
    role: Role
    kind: TaskKind
    template: Slug | None = None  # letters only: the letter template's name
    due: Duration
    approval: Approval = Approval.NONE
    outcomes: tuple[Slug, ...] = ("done",)  # the first is the default outcome
    when: Text | None = None  # created only if this guard holds on entry (unknown: not created)
    #: a universal action's task not done this long after its due date lapses (the first-day
    #: call is for that day; the next day's absence brings its own)
    lapses_after: Duration | None = None
    #: a letter that is a legal step (a penalty warning, a notice to improve, an enforcement
    #: letter): like ``kind: legal``, its ``when`` must require unauthorised absence
    legal: LegalLetter | None = None
    quote: Text | None = None
    why: Text | None = None

    @model_validator(mode="after")
    def _shape(self) -> Task:
        if self.legal is not None and self.kind is not TaskKind.LETTER:
            raise ValueError("only a letter is marked legal: (a legal step is kind: legal)")
        if self.kind is TaskKind.LETTER and self.template is None:
            raise ValueError("a letter needs a template")
        if self.kind is not TaskKind.LETTER and self.template is not None:
            raise ValueError("only letters have a template")
        if not self.outcomes:
            raise ValueError("a task needs at least one outcome")
        if len(set(self.outcomes)) != len(self.outcomes):
            raise ValueError("outcomes repeat")
        return self

    @property
    def default_outcome(self) -> str:
        return self.outcomes[0]

    @property
    def is_legal_step(self) -> bool:
        """A legal step: ``kind: legal``, or a letter marked ``legal:``."""
        return self.kind is TaskKind.LEGAL or self.legal is not None


class TimerLength(_Model):
    """One choice of a timer's length: ``after`` when ``when`` holds on arming."""

    when: Text
    after: Duration
    quote: Text | None = None
    why: Text | None = None


class Timer(_Model):
    """Armed on entering its state, cancelled on leaving it; fires ``after`` at ``at``.

    ``after_when`` lists lengths that depend on the facts on arming (the first whose ``when``
    holds; none: ``after``, the default). A timer with ``every`` repeats: after each firing
    that leaves the case in its state, it is armed again ``every`` later (its first firing is
    ``after``, or ``every`` when no ``after`` is given)."""

    id: Slug
    after: Duration | None = None
    after_when: tuple[TimerLength, ...] = ()
    every: Duration | None = None
    at: str  # "HH:MM", local school time
    quote: Text | None = None
    why: Text | None = None

    @model_validator(mode="after")
    def _time(self) -> Timer:
        if not TIME_OF_DAY.match(self.at):
            raise ValueError(f'at must be a time of day "HH:MM", not {self.at!r}')
        if self.after is None and self.every is None:
            raise ValueError("a timer needs after (a duration) or every (a repeating one)")
        if self.after_when and self.after is None:
            raise ValueError("after_when needs an after: the length when no when holds")
        return self

    @property
    def first(self) -> Duration:
        """The length of its first firing when no ``after_when`` holds."""
        length = self.after or self.every
        assert length is not None  # checked on load
        return length

    def describe(self) -> str:
        """Its length in words: ``4 school weeks``, ``6 school weeks, 2 school weeks when ...``,
        ``every 2 school weeks``."""
        parts = [f"{c.after} when {c.when}" for c in self.after_when]
        if self.after is not None:
            parts.append(str(self.after) if not parts else f"otherwise {self.after}")
        if self.every is not None:
            parts.append(f"every {self.every}")
        return ", ".join(parts)

    def durations(self) -> tuple[Duration, ...]:
        """Every length the timer may take."""
        lengths = [self.after, *(c.after for c in self.after_when), self.every]
        return tuple(x for x in lengths if x is not None)


class Transition(_Model):
    """From the state it is listed in, on ``trigger`` (with ``outcome``, if ``when``), go ``to``.

    ``to`` is a state of the same stage (``review_due``), a stage's initial state (``stage_3``),
    a state of another stage (``stage_1.monitor``) or ``closed``.
    """

    trigger: Slug
    outcome: Slug | None = None
    when: Text | None = None
    to: Text
    quote: Text | None = None
    why: Text | None = None


class RecurringTask(_Model):
    """A task created whenever ``trigger`` comes and ``when`` holds (no state change): ``daily``,
    ``term_end``, or (in a state) the id of a repeating timer of that state."""

    id: Slug
    trigger: Slug
    when: Text | None = None
    task: Task
    quote: Text | None = None
    why: Text | None = None


class Event(_Model):
    """Something staff record by hand; ``<id>_recorded`` counts them in the case (as it counts
    completions of a task with that id)."""

    id: Slug
    outcomes: tuple[Slug, ...] | None = None
    quote: Text | None = None
    why: Text | None = None


class SideAction(_Model):
    """A fast path beside the ladder: when ``trigger`` (an event, or ``daily``) comes for a pupil
    with an open case and ``when`` holds, its tasks are created in the case, which stays where
    it is. Its tasks outlive moves between the states of a stage (they end when done, or when
    the case changes stage or closes); one is not created again while the same task is open."""

    id: Slug
    trigger: Slug
    when: Text | None = None
    tasks: tuple[Task, ...]
    quote: Text | None = None
    why: Text | None = None

    @model_validator(mode="after")
    def _shape(self) -> SideAction:
        if not self.tasks:
            raise ValueError("a side action needs tasks")
        return self


class Duty(_Model):
    """A school-level recurring duty of a role ("Attendance Leader to do weekly checks on the
    pupil's data"): ONE task per school and role, ``daily`` (each school day) or ``weekly``
    (the first school day of each week), listing the pupils whose ``covers`` guard holds (made
    only when it covers someone)."""

    id: Slug
    role: Role
    kind: TaskKind = TaskKind.REVIEW
    every: Literal["daily", "weekly"]
    covers: Text
    due: Duration = Field(default_factory=lambda: Duration(school_days=0))
    quote: Text | None = None
    why: Text | None = None


class Departure(_Model):
    """A rule of ``PLAN_RULES`` this flow deliberately does not keep, with its reason: the check
    reports it as a stated exception instead of a problem."""

    rule: PlanRule
    why: Text
    quote: Text | None = None


class State(_Model):
    kind: StateKind
    quote: Text | None = None
    why: Text | None = None
    tasks: tuple[Task, ...] = ()
    timers: tuple[Timer, ...] = ()
    #: Tasks created while in this state each time their trigger comes (e.g. a call per absence).
    recurring: tuple[RecurringTask, ...] = ()
    on: tuple[Transition, ...] = ()


class InitialChoice(_Model):
    """One of a stage's first states: ``state`` when ``when`` holds on entry (the one without
    ``when`` is the default, listed last)."""

    when: Text | None = None
    state: Slug
    quote: Text | None = None
    why: Text | None = None


class Stage(_Model):
    number: int = Field(ge=1)
    name: Text
    quote: Text | None = None
    why: Text | None = None
    universal: bool = False
    entry: Criteria | None = None
    #: the state a case enters the stage in; or choices on the facts, first match, with a default
    initial: Slug | tuple[InitialChoice, ...] | None = None
    states: dict[Slug, State] = Field(default_factory=dict)
    #: Transitions tried in every state of this stage after the state's own.
    on: tuple[Transition, ...] = ()
    #: a tier: on these triggers (in any of its states), a case whose stage's entry no longer
    #: holds steps down to the highest lower stage whose entry holds (closed if none)
    step_down_on: tuple[Slug, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> Stage:
        if self.universal:
            if self.states or self.entry is not None or self.initial is not None or self.on:
                raise ValueError("a universal stage has no entry, initial, states or on")
            return self
        if not self.states:
            raise ValueError("a stage needs states (or universal: true)")
        if self.initial is None:
            raise ValueError("a stage needs an initial state")
        if isinstance(self.initial, tuple):
            defaults = [c for c in self.initial if c.when is None]
            if len(defaults) != 1 or self.initial[-1].when is not None:
                raise ValueError(
                    "initial choices end with exactly one default: a state without when, last"
                )
        if self.step_down_on and self.entry is None:
            raise ValueError("step_down_on needs the stage's entry: it steps down when that fails")
        return self

    @property
    def default_initial(self) -> str | None:
        """The state a case enters the stage in when no initial choice's ``when`` holds."""
        if isinstance(self.initial, tuple):
            return self.initial[-1].state
        return self.initial

    @property
    def initial_states(self) -> tuple[str, ...]:
        """Every state a case may enter the stage in."""
        if isinstance(self.initial, tuple):
            return tuple(c.state for c in self.initial)
        return () if self.initial is None else (self.initial,)

    @property
    def key(self) -> str:
        return f"stage_{self.number}"

    def full_name(self, state: str) -> str:
        return f"{self.key}.{state}"


class FlowDefinition(_Model):
    """One flow file, as written."""

    flow: Annotated[str, Field(pattern=FLOW_ID)]
    title: Text
    source: Text | None = None
    min_possible_sessions: int = Field(ge=0)
    min_possible_sessions_why: Text
    parameters: dict[Slug, Parameter] = Field(default_factory=dict)
    conditions: dict[Slug, Condition] = Field(default_factory=dict)
    roles: tuple[Role, ...] = ()
    universal: tuple[RecurringTask, ...] = ()
    events: tuple[Event, ...] = ()
    anywhere: tuple[Transition, ...] = ()
    #: fast paths beside the ladder: tasks on an event or daily, the case staying where it is
    side: tuple[SideAction, ...] = ()
    #: school-level recurring duties per role: one task per school and role, listing its cases
    duties: tuple[Duty, ...] = ()
    stages: tuple[Stage, ...]
    #: rules of ``PLAN_RULES`` this plan departs from on purpose, each with its why
    departures: tuple[Departure, ...] = ()

    def letter_templates(self) -> frozenset[str]:
        """The letter templates the flow's tasks name (its states', their recurring tasks',
        its universal actions' and side actions'): every letter an evening of it may prepare."""
        tasks = [t for stage in self.stages for state in stage.states.values() for t in state.tasks]
        tasks += [
            r.task for stage in self.stages for s in stage.states.values() for r in s.recurring
        ]
        tasks += [r.task for r in self.universal]
        tasks += [t for side in self.side for t in side.tasks]
        return frozenset(t.template for t in tasks if t.template is not None)


@dataclass(frozen=True)
class StateRef:
    """A state with its stage, by full name."""

    name: str
    stage: Stage
    state_id: str
    state: State


@dataclass(frozen=True)
class Flow:
    """A checked flow: the definition, its version and its guards compiled once.

    ``guards`` maps every guard expression in the file (``when`` of criteria, transitions, tasks
    and recurring tasks) to its compiled ``Guard``; ``entry`` maps each escalating stage's number
    to its whole entry guard and ``criteria`` to its criteria (id, guard) for "why it fired".
    """

    definition: FlowDefinition
    version: str
    path: str
    guards: Mapping[str, Guard]
    entry: Mapping[int, Guard]
    criteria: Mapping[int, tuple[tuple[str, Guard], ...]]
    states: Mapping[str, StateRef] = field(repr=False)
    #: the exact text the flow was loaded from (its version is the text's sha256)
    text: str | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.definition.flow

    def guard(self, expression: str) -> Guard:
        return self.guards[expression]

    def stage(self, number: int) -> Stage:
        for s in self.definition.stages:
            if s.number == number:
                return s
        raise KeyError(f"flow {self.id} has no stage {number}")

    @property
    def escalating_stages(self) -> tuple[Stage, ...]:
        """Stages with entry criteria, highest number first (the order escalation tries them)."""
        stages = [s for s in self.definition.stages if s.entry is not None and not s.universal]
        return tuple(sorted(stages, key=lambda s: -s.number))

    def state(self, full_name: str) -> StateRef:
        return self.states[full_name]

    def resolve(self, target: str, from_stage: Stage | None = None) -> str:
        """A transition's ``to`` as a full state name (or ``closed``)."""
        return resolve_target(self.definition, target, from_stage)

    def transitions_from(self, full_name: str) -> tuple[Transition, ...]:
        """Every transition tried in a state, in order: the state's, its stage's, ``anywhere``."""
        ref = self.states[full_name]
        return ref.state.on + ref.stage.on + self.definition.anywhere

    def parameter_values(self, term: str) -> dict[str, float]:
        return {name: p.for_term(term) for name, p in self.definition.parameters.items()}

    def environment(self, facts: Mapping[str, Any], term: str) -> Mapping[str, Any]:
        """``facts`` with the parameters' values for ``term``: what guards are called with."""
        return ChainMap(dict(facts), self.parameter_values(term))

    def event_ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.definition.events)


def state_names(definition: FlowDefinition) -> list[str]:
    """Every full state name in file order, then ``closed``."""
    names = [s.full_name(sid) for s in definition.stages for sid in s.states]
    return [*names, CLOSED]


def resolve_target(definition: FlowDefinition, target: str, from_stage: Stage | None) -> str:
    """``to`` as a full state name; raises KeyError when it names nothing."""
    if target == CLOSED:
        return CLOSED
    by_key = {s.key: s for s in definition.stages}
    if "." in target:
        stage_key, state_id = target.split(".", 1)
        stage = by_key.get(stage_key)
        if stage is None or state_id not in stage.states:
            raise KeyError(target)
        return stage.full_name(state_id)
    if target in by_key:
        stage = by_key[target]
        if stage.default_initial is None:
            raise KeyError(target)
        return stage.full_name(stage.default_initial)
    if from_stage is not None and target in from_stage.states:
        return from_stage.full_name(target)
    raise KeyError(target)


#: ``<task or event>_outcome_<outcome>_recorded``: 1 while that is its last recorded outcome
OUTCOME_FLAG = "{name}_outcome_{outcome}_recorded"


def state_flags(definition: FlowDefinition) -> dict[str, str]:
    """``state_<stage>_<state>`` (1 while the case is in that state) to the state's full name."""
    return {
        f"state_{stage.number}_{sid}": stage.full_name(sid)
        for stage in definition.stages
        for sid in stage.states
    }


def outcome_flags(definition: FlowDefinition) -> set[str]:
    """Every ``<task>_outcome_<outcome>_recorded`` and ``<event>_outcome_<outcome>_recorded``."""
    named: list[tuple[str, tuple[str, ...]]] = [
        (e.id, e.outcomes) for e in definition.events if e.outcomes
    ]
    for stage in definition.stages:
        for state in stage.states.values():
            named += [(t.id, t.outcomes) for t in state.tasks]
            named += [(r.task.id, r.task.outcomes) for r in state.recurring]
    return {OUTCOME_FLAG.format(name=n, outcome=o) for n, outcomes in named for o in outcomes}


def resolve_targets(definition: FlowDefinition, target: str, from_stage: Stage | None) -> list[str]:
    """Every state ``to`` may lead to: a stage's initial choices, or the one state it names."""
    first = resolve_target(definition, target, from_stage)
    stage = next((s for s in definition.stages if s.key == target), None)
    if stage is None or not isinstance(stage.initial, tuple):
        return [first]
    return [stage.full_name(sid) for sid in stage.initial_states]


def step_down_targets(definition: FlowDefinition, stage: Stage) -> list[str]:
    """Where a tier (``step_down_on``) may step a case down to: a lower stage with an entry
    (any of its first states), or closed."""
    if not stage.step_down_on:
        return []
    lower = [s for s in definition.stages if s.entry is not None and s.number < stage.number]
    return [s.full_name(i) for s in lower for i in s.initial_states] + [CLOSED]


def state_refs(definition: FlowDefinition) -> dict[str, StateRef]:
    return {
        stage.full_name(sid): StateRef(stage.full_name(sid), stage, sid, state)
        for stage in definition.stages
        for sid, state in stage.states.items()
    }


Criteria.model_rebuild()
