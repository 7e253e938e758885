"""A case's history as sentences, and "why this happened" from the reasons it records.

Pure: history events are ``Decision.to_event()`` dicts; the flow gives names and the plan's
words. Safeguarding records are replaced by a notice for viewers who may not see them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from escalation_flow.core import definition as d
from escalation_flow.core.access import role_title
from escalation_flow.core.fact_names import Unit, fact_spec
from escalation_flow.core.notice_story import NoticeStep, interleave
from escalation_flow.web.filters import day, humanize
from escalation_flow.web.guard_words import guard_sentence
from escalation_flow.web.plan_words import stage_name

RESTRICTED = "A safeguarding record. Only the designated safeguarding lead and the trust's attendance team can see it."


@dataclass(frozen=True)
class StoryLine:
    on: date
    at: datetime | None
    text: str
    detail: str | None
    actor: str | None
    restricted: bool


@dataclass(frozen=True)
class FactLine:
    name: str
    value: str
    meaning: str


@dataclass(frozen=True)
class Why:
    on: date
    headline: str
    quote: str | None
    rule: str | None
    facts: list[FactLine]
    restricted: bool


def state_label(flow: d.Flow, state: str) -> str:
    if state in ("closed", "none"):
        return "Closed" if state == "closed" else "No case"
    _, _, sid = state.partition(".")
    return humanize(sid or state)


def story(
    flow: d.Flow,
    events: Sequence[tuple[Mapping[str, Any], datetime | None, str]],
    restricted: Sequence[bool],
    shown: bool,
    notices: Sequence[NoticeStep] = (),
) -> list[StoryLine]:
    """Newest first. ``events``: (event, at, actor); ``shown``: may this viewer see restricted?
    ``notices``: the penalty-notice register's steps for the pupil, told among the records by
    date (issue 15; shown to whoever sees the pupil's contacts)."""
    out: list[StoryLine] = []
    for (e, at, actor), hidden in zip(events, restricted, strict=True):
        on = date.fromisoformat(str(e["date"]))
        if hidden and not shown:
            out.append(StoryLine(on, at, "Safeguarding record", RESTRICTED, None, True))
            continue
        text, detail = sentence(flow, e)
        who = None if actor in (None, "", "engine") else actor
        out.append(StoryLine(on, at, text, detail, who, hidden))
    out = interleave(out, [notice_line(n) for n in notices], _placed)
    out.reverse()
    return out


def notice_line(step: NoticeStep) -> StoryLine:
    """A step of the penalty-notice register as a line of the story."""
    v = step.version
    title = f"{step.title()} issued" if step.issued else f"{step.title()}: {humanize(v.status.value)}"
    detail = step.text(day)
    recorded = f" Recorded in the register by {v.recorded_by} on {day(v.recorded_at)}."
    return StoryLine(step.on, step.placed, title, detail + "." + recorded, v.recorded_by, False)


def _placed(line: StoryLine) -> tuple[date, datetime]:
    return line.on, line.at or datetime.min.replace(tzinfo=UTC)


def sentence(flow: d.Flow, e: Mapping[str, Any]) -> tuple[str, str | None]:
    """What one record says, for a person: (the line, a detail or None)."""
    kind = e.get("type")
    task = humanize(str(e.get("task", "")))
    if kind == "case_opened":
        return "Case opened", f"Plan: {flow.definition.title}"
    if kind == "stage_entered":
        return f"Moved to {_stage(flow, int(e['stage']))}", _reason_text(flow, e)
    if kind == "state_entered":
        return f"Next step: {state_label(flow, str(e['state']))}", _reason_text(flow, e)
    if kind == "task_created":
        return (
            f"Task for {role_title(str(e.get('role'))).lower()}: {task}",
            f"Due {day(date.fromisoformat(str(e['due'])))}" if e.get("due") else None,
        )
    if kind == "task_completed":
        note = f" Note: {e['note']}" if e.get("note") else ""
        return f"{task}: {humanize(str(e.get('outcome')))}", f"Recorded by {e.get('by')}.{note}"
    if kind == "task_superseded":
        return f"{task} no longer needed", str(e.get("why") or "") or None
    if kind == "timer_armed":
        due = date.fromisoformat(str(e["due"]))
        return f"{humanize(str(e.get('timer')))} set for {day(due)}", str(e.get("rule") or "")
    if kind == "timer_fired":
        return f"{humanize(str(e.get('timer')))}: the date has come", None
    if kind == "timer_cancelled":
        return f"{humanize(str(e.get('timer')))} cancelled", str(e.get("why") or "") or None
    if kind == "event_recorded":
        outcome = f": {humanize(str(e['outcome']))}" if e.get("outcome") else ""
        note = f" Note: {e['note']}" if e.get("note") else ""
        return f"{humanize(str(e.get('event')))}{outcome}", f"Recorded by {e.get('by')}.{note}"
    if kind == "stage_overridden":
        return (
            f"Stage set by hand to {_stage(flow, int(e['stage']))}",
            f"By {e.get('by')}: {e.get('reason_text')}",
        )
    if kind == "case_closed":
        return "Case closed", _reason_text(flow, e)
    if kind == "action_undone":
        what = humanize(str(e.get("action")))
        note = f" Note: {e['note']}" if e.get("note") else ""
        return (
            f"Undone: {what}",
            f"Withdrawn by {e.get('by')}, who had recorded it; the case went back to where it "
            f"was before.{note}",
        )
    if kind == "flow_migrated":
        return "Moved to a newer version of the plan", f"By {e.get('by')}: {e.get('reason_text')}"
    return humanize(str(kind)), None


def why(
    flow: d.Flow, events: Sequence[Mapping[str, Any]], restricted: Sequence[bool], shown: bool
) -> Why | None:
    """Why the case is where it is: the latest move into its stage (or a hand override)."""
    for e, hidden in zip(reversed(events), reversed(restricted), strict=True):
        if e.get("type") not in ("stage_entered", "stage_overridden", "case_closed"):
            continue
        on = date.fromisoformat(str(e["date"]))
        if hidden and not shown:
            return Why(on, "Safeguarding", None, RESTRICTED, [], True)
        if e.get("type") == "stage_overridden":
            return Why(
                on,
                f"Put in {_stage(flow, int(e['stage']))} by {e.get('by')}",
                None,
                str(e.get("reason_text") or ""),
                [],
                hidden,
            )
        headline = (
            "Closed"
            if e.get("type") == "case_closed"
            else f"Entered {_stage(flow, int(e['stage']))}"
        )
        params = flow.definition.parameters
        facts = [
            fact_line(name, value, "a number the plan sets" if name in params else None)
            for name, value in sorted((e.get("reason") or {}).items())
        ]
        return Why(on, headline, e.get("quote"), _rule(flow, e), facts, hidden)
    return None


def fact_line(name: str, value: Any, meaning: str | None = None) -> FactLine:
    spec = fact_spec(name)
    if meaning is None:
        meaning = spec.description if spec else humanize(name)
    return FactLine(humanize(name), shown_value(name, value), meaning)


def shown_value(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not known yet"
    if not isinstance(value, int | float):
        return str(value)
    spec = fact_spec(name)
    unit = spec.unit if spec else None
    if unit in (Unit.PERCENT,):
        return f"{float(value):.1f}%"
    if unit is Unit.PERCENTAGE_POINTS:
        return f"{float(value):+.1f} points"
    if unit is Unit.FLAG:
        return "yes" if value else "no"
    if unit is Unit.SHARE:
        return f"{100 * float(value):.0f}% of absences"
    number = float(value)
    text = str(int(number)) if number.is_integer() else f"{number:.2f}"
    if unit in (Unit.SESSIONS, Unit.SCHOOL_DAYS):
        assert unit is not None
        return f"{text} {unit.value[:-1] if number == 1 else unit.value}"
    return text


def _rule(flow: d.Flow, e: Mapping[str, Any]) -> str | None:
    from escalation_flow.adapters.flow_graph import readable

    guard = e.get("guard")
    trigger = e.get("trigger")
    parts = []
    if trigger and trigger not in ("daily", "escalation"):
        parts.append(f"after {humanize(str(trigger)).lower()}")
    if guard:
        words = guard_sentence(flow, str(guard), e.get("reason") or {})
        parts.append(f"because {words or readable(flow, str(guard))}")
    return "; ".join(parts) or None


def _reason_text(flow: d.Flow, e: Mapping[str, Any]) -> str | None:
    bits = []
    if e.get("quote"):
        bits.append(f"“{e['quote']}”")
    rule = _rule(flow, e)
    if rule:
        bits.append(rule[:1].upper() + rule[1:] + ".")
    return " ".join(bits) or None


def _stage(flow: d.Flow, number: int) -> str:
    return stage_name(flow, number)
