"""The rules every plan keeps (domain.md, "What a plan must never do"), checked on the file.

Real families receive what a flow decides, so ``flows check`` refuses a flow that breaks one of
these, whatever the plan's wording, unless the flow states a departure (``departures:`` with the
rule and its why): then the check reports it as a stated exception. What is read from the file:

- ``legal_needs_unauthorised``: every legal step (``kind: legal``, or a letter marked
  ``legal:``) has a ``when`` that requires unauthorised absence: a conjunct counting G, N, O or U
  sessions at one or more;
- ``legal_needs_compulsory_school_age``: every legal step has a ``when`` that requires the pupil
  to be of compulsory school age (``compulsory_school_age``, or ``penalty_notice_threshold_met``
  which implies it). "Legal step" is read widely (``legal_tasks``): a ``kind: legal`` task, a
  letter marked ``legal:``, any letter, meeting or referral in a ``kind: legal`` state (a
  pre-legal meeting, an LA's legal powers), and any task whose name speaks of penalties, notices
  to improve, enforcement, prosecution or legal steps. The classification once looked at the
  task's kind only, so a ``kind: meeting`` "pre-legal meeting" passed unguarded. And the
  unauthorised absence it rests on must be of compulsory school age
  (``unauthorised_sessions_of_compulsory_age_last_10_school_weeks`` at one or more, or the
  threshold fact): a Reception child's November absence cannot found a January legal step;
- ``penalty_needs_threshold``: every step on the penalty-notice route (a penalty warning or
  form, a notice to improve, an enforcement letter, considering a penalty notice) requires the national threshold over
  sessions of compulsory school age (``penalty_notice_threshold_met``, or
  ``unauthorised_sessions_of_compulsory_age_last_10_school_weeks >= 10``): one unauthorised
  session is not grounds for a notice to improve;
- ``safeguarding``: a ``safeguarding_concern`` event whose ``anywhere`` move reaches a state
  with a task for the designated safeguarding lead; and a stage for the DSL entered on runs of
  unauthorised absence takes holidays (G) and late arrivals (U) off them;
- ``step_down_stays_down``: a stage a case steps down from re-enters only on something new
  since the step (its entry uses a ``_since_state_entry`` / ``_at_state_entry`` fact);
- ``no_gap_between_bands``: below the highest band edge, every attendance percentage is in
  some stage's band that needs nothing else;
- ``percentages_wait``: ``min_possible_sessions`` is above 0, and an entry criterion on a
  windowed percentage also waits for ``possible_sessions``;
- ``threshold_acted_on``: a legal step created on a threshold (its ``when`` counts
  unauthorised absence) is acted on whenever the threshold is met while the case is there, not
  only on entry: its state (or stage) listens to ``daily``, or every move into it needs
  unauthorised absence (its guard, or a legal step on the threshold before it), so the state
  is entered only when the threshold is met;
- ``letters_tell_the_truth`` (``letter_truth_problems``, given the templates' own claims, read
  from their files by ``flows check``): every template a flow names exists, and a letter whose
  template ``states_history`` is sent only from a state every path into which passes a state
  with that task or letter.

Rules about what a case does over time (a step down not undone the same evening, a threshold
acted on whenever met) are also tested on generated registers (``tests/properties``).
"""

from __future__ import annotations

import ast
import contextlib
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from escalation_flow.core import definition as d
from escalation_flow.core.bands import Band, band_of, criteria_with_locs

Loc = tuple[str | int, ...]
Found = tuple[Loc, str]

#: Facts that count unauthorised absence (G, N, O, U): a legal step rests on one of them.
UNAUTHORISED_FACTS = frozenset(
    {
        "unauthorised_absence_sessions",
        "unauthorised_sessions_this_half_term",
        "unauthorised_sessions_this_term",
        "unauthorised_sessions_last_6_school_weeks",
        "unauthorised_sessions_last_10_school_weeks",
        "unauthorised_sessions_since_state_entry",
        "holiday_sessions_this_year",
        "consecutive_unauthorised_school_days",
    }
)
#: Percentages over a window shorter than the year: one day there is several points.
WINDOW_PCT_FACTS = frozenset(
    {
        "attendance_pct_this_term",
        "attendance_pct_this_half_term",
        "attendance_pct_last_2_school_weeks",
        "attendance_pct_last_4_school_weeks",
        "attendance_pct_last_6_school_weeks",
        "attendance_pct_last_10_school_weeks",
    }
)
#: Every ``unauthorised_sessions_...`` name counts G, N, O and U (the windows of N school weeks
#: or days, since the stage, the case or an event, the previous term).
UNAUTHORISED_PREFIX = "unauthorised_sessions_"


def counts_unauthorised(name: str) -> bool:
    """Whether the fact ``name`` counts unauthorised absence (G, N, O, U)."""
    return name in UNAUTHORISED_FACTS or name.startswith(UNAUTHORISED_PREFIX)


def _window_pct(name: str) -> bool:
    return name in WINDOW_PCT_FACTS or name == "attendance_pct_previous_term" or (
        name.startswith("attendance_pct_last_") and name.endswith(("_school_weeks", "_school_days"))
    )


SAFEGUARDING_EVENT = "safeguarding_concern"
_CASE_HISTORY = ("_since_state_entry", "_at_state_entry", "school_days_in_state")


def plan_rule_problems(flow: d.FlowDefinition) -> tuple[list[Found], list[str]]:
    """(problems, stated exceptions): each problem of a rule the flow does not depart from;
    each departure as ``stated exception: <rule> (why: ...)``."""
    departed = {dep.rule: dep for dep in flow.departures}
    found: list[Found] = []
    for rule, check in _RULES.items():
        if rule not in departed:
            found.extend(check(flow))
    stated = [f"stated exception: {dep.rule} (why: {dep.why})" for dep in flow.departures]
    return found, stated


#: template name -> the history it states as fact (None: no such template for this flow)
LetterClaims = Mapping[str, tuple[str, ...] | None]


def letter_truth_problems(flow: d.FlowDefinition, claims: LetterClaims) -> list[Found]:
    """Rule 6 on the letters a flow sends, given what each template states (domain rule 6)."""
    if "letters_tell_the_truth" in {dep.rule for dep in flow.departures}:
        return []
    found: list[Found] = []
    for loc, task, state in _letter_tasks(flow):
        assert task.template is not None
        stated = claims.get(task.template)
        if stated is None:
            found.append(((*loc, "template"), f"no letter template named {task.template!r} for "
                          f"this flow (letters/templates/, or letters/templates/{flow.flow}/)"))
            continue
        for needed in stated:
            path = _path_avoiding(flow, state, needed)
            if path is not None:
                found.append((
                    (*loc, "template"),
                    f"letter {task.template!r} states that {needed!r} came first, but a case "
                    f"reaches {state} without it: {' -> '.join(path)} (domain rule 6)",
                ))
    return found


# -- reading guards -----------------------------------------------------------------------------


def _conjuncts(expression: str, flow: d.FlowDefinition, depth: int = 0) -> list[ast.expr]:
    """The top-level ``and`` parts of ``expression``, conditions written out."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return []
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    out: list[ast.expr] = []
    for part in parts:
        if isinstance(part, ast.Name) and part.id in flow.conditions and depth < 8:
            out += _conjuncts(flow.conditions[part.id].when, flow, depth + 1)
        else:
            out.append(part)
    return out


def _lowest(node: ast.expr, flow: d.FlowDefinition) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in flow.parameters:
        return min(flow.parameters[node.id].for_term(t) for t in d.TERMS)
    return None


def requires_unauthorised(expression: str | None, flow: d.FlowDefinition) -> bool:
    """True when ``expression`` holds only with some unauthorised absence counted."""
    for part in _conjuncts(expression or "", flow):
        if isinstance(part, ast.Name) and part.id == THRESHOLD_FACT:
            return True
        if not (isinstance(part, ast.Compare) and len(part.ops) == 1):
            continue
        left, op, right = part.left, part.ops[0], part.comparators[0]
        if isinstance(left, ast.Name) and counts_unauthorised(left.id):
            k = _lowest(right, flow)
            if k is not None and (
                (isinstance(op, ast.GtE) and k >= 1) or (isinstance(op, ast.Gt) and k >= 0)
            ):
                return True
    return False


def _names(expression: str, flow: d.FlowDefinition) -> set[str]:
    names: set[str] = set()
    for part in _conjuncts(expression, flow):
        names |= {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
    for name in list(names):
        if name in flow.conditions:
            names |= _names(flow.conditions[name].when, flow)
    return names


def _tasks(flow: d.FlowDefinition) -> Iterator[tuple[Loc, d.Task]]:
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            for k, task in enumerate(state.tasks):
                yield ("stages", i, "states", sid, "tasks", k), task
            for k, rec in enumerate(state.recurring):
                yield ("stages", i, "states", sid, "recurring", k, "task"), rec.task
    for k, rec in enumerate(flow.universal):
        yield ("universal", k, "task"), rec.task
    for k, side in enumerate(flow.side):
        for j, task in enumerate(side.tasks):
            yield ("side", k, "tasks", j), task


# -- the rules ------------------------------------------------------------------------------------


def _legal_needs_unauthorised(flow: d.FlowDefinition) -> Iterator[Found]:
    for loc, task in legal_tasks(flow):
        if not requires_unauthorised(task.when, flow):
            yield (
                (*loc, "when"),
                f"legal step {task.id!r} must require unauthorised absence (G, N, O, U): its "
                "when needs a count of it at one or more, e.g. "
                "unauthorised_sessions_last_10_school_weeks >= 1 (domain rule 1)",
            )


#: Words in a task's id or template that make it a legal step, whatever its kind.
LEGAL_WORDS = ("penalty", "notice_to_improve", "enforcement", "prosecut", "legal", "court")
#: Words that put a legal step on the penalty-notice route (the national threshold applies).
PENALTY_WORDS = ("penalty", "notice_to_improve")
#: Facts that hold only for a pupil of compulsory school age.
OF_AGE_FACTS = frozenset({"compulsory_school_age", "penalty_notice_threshold_met"})
THRESHOLD_FACT = "penalty_notice_threshold_met"
OF_AGE_COUNT = "unauthorised_sessions_of_compulsory_age_last_10_school_weeks"
NATIONAL_THRESHOLD = 10
#: In a ``kind: legal`` state a meeting is a legal step (a pre-legal meeting); a letter or a
#: referral there is one only by its mark or name (an attendance contract is voluntary support,
#: a multi-agency referral is support).
_LEGAL_STATE_KINDS = frozenset({d.TaskKind.MEETING})


def _words(task: d.Task) -> str:
    return f"{task.id} {task.template or ''}".lower()


def is_legal_task(task: d.Task, state: d.State | None = None) -> bool:
    """A legal step: by its kind, its ``legal:`` mark, its state's kind, or its name."""
    if task.is_legal_step:
        return True
    if state is not None and state.kind is d.StateKind.LEGAL and task.kind in _LEGAL_STATE_KINDS:
        return True
    return task.kind is not d.TaskKind.REVIEW and any(w in _words(task) for w in LEGAL_WORDS)


def is_penalty_route(task: d.Task) -> bool:
    """A step of the penalty-notice framework: the national threshold must be met for it."""
    # Every kind of legal letter is one: the bundled enforcement letter warns of a penalty notice.
    return task.legal is not None or (
        task.kind is not d.TaskKind.REVIEW and any(w in _words(task) for w in PENALTY_WORDS)
    )


def legal_tasks(flow: d.FlowDefinition) -> Iterator[tuple[Loc, d.Task]]:
    """Every legal step of the flow (``is_legal_task``), with where it is written."""
    states: dict[Loc, d.State] = {
        ("stages", i, "states", sid): state
        for i, stage in enumerate(flow.stages)
        for sid, state in stage.states.items()
    }
    for loc, task in _tasks(flow):
        if is_legal_task(task, states.get(loc[:4])):
            yield loc, task


def requires_compulsory_school_age(expression: str | None, flow: d.FlowDefinition) -> bool:
    """True when ``expression`` holds only for a pupil of compulsory school age, with some
    unauthorised absence of that age in the last 10 school weeks."""
    return _of_age_now(expression, flow) and _of_age_count_at_least(expression, flow, 1)


def _of_age_count_at_least(expression: str | None, flow: d.FlowDefinition, n: int) -> bool:
    for part in _conjuncts(expression or "", flow):
        if isinstance(part, ast.Name) and part.id == THRESHOLD_FACT and n <= NATIONAL_THRESHOLD:
            return True
        if isinstance(part, ast.Compare) and len(part.ops) == 1 and isinstance(part.left, ast.Name):
            k = _lowest(part.comparators[0], flow)
            op = part.ops[0]
            if part.left.id == OF_AGE_COUNT and k is not None and (
                (isinstance(op, ast.GtE) and k >= n) or (isinstance(op, ast.Gt) and k >= n - 1)
            ):
                return True
    return False


def _of_age_now(expression: str | None, flow: d.FlowDefinition) -> bool:
    for part in _conjuncts(expression or "", flow):
        if isinstance(part, ast.Name) and part.id in OF_AGE_FACTS:
            return True
        if (
            isinstance(part, ast.Compare)
            and len(part.ops) == 1
            and isinstance(part.left, ast.Name)
            and part.left.id in OF_AGE_FACTS
            and isinstance(part.ops[0], ast.Eq | ast.GtE)
            and _lowest(part.comparators[0], flow) == 1
        ):
            return True
    return False


def requires_threshold(expression: str | None, flow: d.FlowDefinition) -> bool:
    """True when ``expression`` holds only with the national penalty-notice threshold met over
    sessions of compulsory school age."""
    return _of_age_now(expression, flow) and _of_age_count_at_least(
        expression, flow, NATIONAL_THRESHOLD
    )


def _legal_needs_compulsory_school_age(flow: d.FlowDefinition) -> Iterator[Found]:
    for loc, task in legal_tasks(flow):
        if not requires_compulsory_school_age(task.when, flow):
            yield (
                (*loc, "when"),
                f"legal step {task.id!r} applies only to a pupil of compulsory school age, on "
                "absence of that age: its when needs compulsory_school_age and "
                f"{OF_AGE_COUNT} >= 1 (or {THRESHOLD_FACT}) (domain: legal steps apply only to "
                "pupils of compulsory school age)",
            )


def _penalty_needs_threshold(flow: d.FlowDefinition) -> Iterator[Found]:
    for loc, task in legal_tasks(flow):
        if is_penalty_route(task) and not requires_threshold(task.when, flow):
            yield (
                (*loc, "when"),
                f"{task.id!r} is on the penalty-notice route: its when needs the national "
                "threshold over sessions of compulsory school age (penalty_notice_threshold_met: "
                f"{NATIONAL_THRESHOLD} unauthorised sessions in 10 school weeks) (domain rule 1)",
            )


def _dsl_states(flow: d.FlowDefinition) -> set[str]:
    return {
        stage.full_name(sid)
        for stage in flow.stages
        for sid, state in stage.states.items()
        if any(t.role is d.Role.DESIGNATED_SAFEGUARDING_LEAD for t in state.tasks)
    }


def _safeguarding(flow: d.FlowDefinition) -> Iterator[Found]:
    dsl = _dsl_states(flow)
    reaches = False
    for t in flow.anywhere:
        if t.trigger == SAFEGUARDING_EVENT and t.when is None:
            try:
                reaches = reaches or d.resolve_target(flow, t.to, None) in dsl
            except KeyError:
                continue
    if SAFEGUARDING_EVENT not in {e.id for e in flow.events} or not reaches:
        yield (
            ("anywhere",),
            f"a recorded {SAFEGUARDING_EVENT} must reach the designated safeguarding lead at "
            f"once from anywhere: add the event and an anywhere move on it (no when) to a state "
            "with a task for designated_safeguarding_lead (domain rule 2)",
        )
    for i, stage in enumerate(flow.stages):
        if stage.entry is None or not any(stage.full_name(s) in dsl for s in stage.initial_states):
            continue
        for loc, criterion in criteria_with_locs(("stages", i, "entry"), stage.entry):
            names = _names(criterion.when, flow)
            unauthorised = any(counts_unauthorised(n) for n in names)
            if unauthorised and "holiday_sessions_this_year" not in names:
                yield (
                    (*loc, "when"),
                    f"criterion {criterion.id!r} escalates to the DSL on unauthorised absence "
                    "including holidays (G) and late arrivals (U): unexplained absence is N and "
                    "O only (domain rule 2)",
                )


def _stepped_down_from(flow: d.FlowDefinition) -> set[int]:
    left: set[int] = set()
    for stage in flow.stages:
        for state in stage.states.values():
            for t in state.on + stage.on:
                try:
                    target = d.resolve_target(flow, t.to, stage)
                except KeyError:
                    continue
                if target == d.CLOSED:
                    continue
                lower = int(target.split(".")[0].removeprefix("stage_"))
                if lower < stage.number:
                    left.add(stage.number)
    return left


def _step_down_stays_down(flow: d.FlowDefinition) -> Iterator[Found]:
    left = _stepped_down_from(flow)
    for i, stage in enumerate(flow.stages):
        if stage.number not in left or stage.entry is None:
            continue
        for loc, criterion in criteria_with_locs(("stages", i, "entry"), stage.entry):
            names = _names(criterion.when, flow)
            if not any(n.endswith(_CASE_HISTORY) or n == "stage" for n in names):
                yield (
                    (*loc, "when"),
                    f"cases step down from stage {stage.number}, but {criterion.id!r} would take "
                    "them straight back on the trigger they left: require something new since "
                    "the step (e.g. unauthorised_sessions_since_state_entry >= 1) (domain rule 3)",
                )


def _free_bands(flow: d.FlowDefinition, term: str) -> list[Band]:
    """Bands of criteria that need nothing but attendance (and enough sessions)."""
    params = {n: p.for_term(term) for n, p in flow.parameters.items()}
    bands: list[Band] = []
    for stage in flow.stages:
        if stage.entry is None:
            continue
        items = stage.entry.criteria() if stage.entry.mode == "any" else iter(())
        for criterion in items:
            band = band_of(criterion.when, params)
            others = [
                p for p in _conjuncts(criterion.when, flow) if not _is_band_part(p)
            ]
            if band is not None and not others:
                bands.append(band)
    return bands


def _is_band_part(node: ast.expr) -> bool:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return bool(names) and names <= {"attendance_pct", "possible_sessions"}


def _no_gap_between_bands(flow: d.FlowDefinition) -> Iterator[Found]:
    for term in d.TERMS:
        bands = sorted(_free_bands(flow, term), key=lambda b: b.low)
        if not bands:
            continue
        top = max(b.high for b in bands)
        covered_to = -math.inf
        for band in bands:
            if band.low > max(covered_to, 0):
                yield (
                    ("stages",),
                    f"in {term}, attendance from {max(covered_to, 0):g}% to {band.low:g}% is "
                    f"in no stage although below {top:g}%: extend a band, or state the gap as a "
                    "departure (domain rule 5)",
                )
                return
            covered_to = max(covered_to, band.high)


def _percentages_wait(flow: d.FlowDefinition) -> Iterator[Found]:
    if flow.min_possible_sessions <= 0:
        yield (
            ("min_possible_sessions",),
            "percentage thresholds must wait for some possible sessions (domain rule 7)",
        )
    for i, stage in enumerate(flow.stages):
        if stage.entry is None:
            continue
        for loc, criterion in criteria_with_locs(("stages", i, "entry"), stage.entry):
            names = _names(criterion.when, flow)
            if any(_window_pct(n) for n in names) and "possible_sessions" not in names:
                yield (
                    (*loc, "when"),
                    f"criterion {criterion.id!r} uses a percentage over a window: it must also "
                    "wait for enough possible sessions (possible_sessions >= a parameter with "
                    "its why) (domain rule 7)",
                )


def _letter_tasks(flow: d.FlowDefinition) -> Iterator[tuple[Loc, d.Task, str]]:
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            for k, task in enumerate(state.tasks):
                if task.template is not None:
                    yield ("stages", i, "states", sid, "tasks", k), task, stage.full_name(sid)


def _path_avoiding(flow: d.FlowDefinition, target: str, needed: str) -> list[str] | None:
    """A path from where cases start to ``target`` passing no state with a task (or letter)
    named ``needed``; None when every path passes one."""
    passing = {
        stage.full_name(sid)
        for stage in flow.stages
        for sid, state in stage.states.items()
        if any(needed in (t.id, t.template) for t in state.tasks)
    }
    if target in passing:
        return None
    edges = _moves(flow)
    starts = [s for s in _starts(flow) if s not in passing]
    parent: dict[str, str | None] = dict.fromkeys(starts)
    queue = deque(starts)
    while queue:
        here = queue.popleft()
        if here == target:
            path = [here]
            while (before := parent[path[-1]]) is not None:
                path.append(before)
            return ["(case opens)", *reversed(path)]
        for nxt in sorted(edges.get(here, ())):
            if nxt not in parent and nxt not in passing:
                parent[nxt] = here
                queue.append(nxt)
    return None


def _starts(flow: d.FlowDefinition) -> list[str]:
    """Where a case can begin or jump to: every stage entered on its criteria (the highest
    stage wins, from anywhere), and every ``anywhere`` move."""
    starts = [s.full_name(i) for s in flow.stages if s.entry for i in s.initial_states]
    for t in flow.anywhere:
        with contextlib.suppress(KeyError):
            starts += d.resolve_targets(flow, t.to, None)
    return [s for s in starts if s != d.CLOSED]


def _moves(flow: d.FlowDefinition) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for stage in flow.stages:
        for sid, state in stage.states.items():
            here = stage.full_name(sid)
            for t in state.on + stage.on + flow.anywhere:
                with contextlib.suppress(KeyError):
                    targets = d.resolve_targets(flow, t.to, stage)
                    out.setdefault(here, set()).update(x for x in targets if x != d.CLOSED)
            steps = d.step_down_targets(flow, stage)
            out.setdefault(here, set()).update(x for x in steps if x != d.CLOSED)
    return out


def _threshold_acted_on(flow: d.FlowDefinition) -> Iterator[Found]:
    for i, stage in enumerate(flow.stages):
        for sid, state in stage.states.items():
            name = stage.full_name(sid)
            for k, task in enumerate(state.tasks):
                if not (task.is_legal_step and requires_unauthorised(task.when, flow)):
                    continue
                if _listens_daily(stage, state) or _entered_on_daily_threshold(flow, name):
                    continue
                yield (
                    ("stages", i, "states", sid, "tasks", k, "when"),
                    f"legal step {task.id!r} is decided only when {name} is entered: a threshold "
                    f"met the day after is never acted on while the case is there. Listen to "
                    f"daily in {name} (e.g. move on when the threshold is not met), or enter it "
                    "only on moves that need the threshold (domain rule 4)",
                )


def _listens_daily(stage: d.Stage, state: d.State) -> bool:
    return any(t.trigger == d.DAILY for t in state.on + stage.on) or any(
        r.trigger == d.DAILY for r in state.recurring
    )


def _entered_on_daily_threshold(flow: d.FlowDefinition, name: str) -> bool:
    """Every move into ``name`` is taken only with unauthorised absence counted: its ``when``
    requires it, or its trigger is a legal step that did (the threshold held a day before)."""
    legal_on_threshold = {
        task.id for _, task in _tasks(flow) if requires_unauthorised(task.when, flow)
    }
    into: list[d.Transition] = []
    for stage in flow.stages:
        if stage.entry is not None and name in {stage.full_name(i) for i in stage.initial_states}:
            return False  # entered on the stage's criteria too
        for state in stage.states.values():
            for t in state.on + stage.on:
                with contextlib.suppress(KeyError):
                    if name in d.resolve_targets(flow, t.to, stage):
                        into.append(t)
    return bool(into) and all(
        requires_unauthorised(t.when, flow) or t.trigger in legal_on_threshold for t in into
    )


_RULES: Mapping[str, Callable[[d.FlowDefinition], Iterator[Found]]] = {
    "legal_needs_unauthorised": _legal_needs_unauthorised,
    "legal_needs_compulsory_school_age": _legal_needs_compulsory_school_age,
    "penalty_needs_threshold": _penalty_needs_threshold,
    "safeguarding": _safeguarding,
    "step_down_stays_down": _step_down_stays_down,
    "no_gap_between_bands": _no_gap_between_bands,
    "percentages_wait": _percentages_wait,
    "threshold_acted_on": _threshold_acted_on,
}
