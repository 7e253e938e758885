"""What the pages know about a school besides its cases: its flow, roster and register facts.

Facts come from the store's marks exactly as the daemon reads them (``Store.load_marks``, the
grid as known now, ``facts_as_of``), for every pupil of the school at once. They are cached per
school and day and recomputed when a new import lands (the newest ``imports.id`` changes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from escalation_flow.core import definition as d
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.facts import FactTable, facts_as_of
from escalation_flow.core.marks import PupilRecord, Roster
from escalation_flow.core.register import AssumeRecordedAt, RegisterGrid, register_as_known_at
from escalation_flow.errors import CalendarError, NotFoundError
from escalation_flow.web.app import WebApp
from escalation_flow.web.chart import Threshold

#: "N must be replaced within 5 school days": older ones are a data problem.
OLD_N_SCHOOL_DAYS = 5
_PCT_BOUND = re.compile(r"\battendance_pct\s*(<=|<)\s*([A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class SchoolRegister:
    """A school's register read for one day: the grid, the facts at its end, the roster."""

    school: str
    calendar: SchoolCalendar
    day_index: int  # -1: the day is before the calendar's first school day
    grid: RegisterGrid | None
    facts: FactTable | None
    roster: Roster

    def pupil(self, pupil: str) -> PupilRecord:
        return self.roster.pupils.get(pupil) or PupilRecord(school=self.school, pupil=pupil)

    def facts_of(self, pupil: str) -> dict[str, float] | None:
        if self.facts is None or pupil not in self.facts.pupils:
            return None
        return self.facts.row(pupil)

    def column(self, name: str) -> np.ndarray[Any, Any]:
        if self.facts is None:
            return np.empty(0)
        return self.facts.values[name]


def flow_of(web: WebApp, school: str, version: str = "") -> d.Flow:
    """The school's flow as the service read it, or the earlier version an open case runs
    under."""
    flow: d.Flow = web.service.setup_at(school, version).flow
    return flow


def school_name(web: WebApp, school: str) -> str:
    try:
        return str(web.service.trust.school(school).name)
    except NotFoundError:
        return school


def roster_of(web: WebApp, school: str) -> Roster:
    """The school's pupils (names, year groups), read again after each import."""
    stamp = _import_stamp(web)
    return _cached(  # type: ignore[no-any-return]
        web, ("roster", school, stamp), lambda: web.reads.roster(school)
    )


def register_of(web: WebApp, school: str, day: date) -> SchoolRegister:
    """The school's register as known now, with facts at the end of ``day`` (or the school day
    before it)."""
    stamp = _import_stamp(web)
    return _cached(  # type: ignore[no-any-return]
        web, ("register", school, day, stamp), lambda: _read_register(web, school, day)
    )


def _read_register(web: WebApp, school: str, day: date) -> SchoolRegister:
    service = web.service
    calendar = service.trust.calendar(school)
    roster = roster_of(web, school)
    try:
        calendar.check_in_range(day)
        index = calendar.index_on_or_before(day)
    except CalendarError:
        index = calendar.n_days - 1 if day > calendar.last_day else -1
    if index < 0:
        return SchoolRegister(school, calendar, -1, None, None, roster)
    marks = service.store.load_marks(school, calendar)
    grid = register_as_known_at(
        marks,
        calendar,
        known_at=None,
        unknown_recorded_at=AssumeRecordedAt(web.now()),
        roster=roster,
    )
    flow = flow_of(web, school)
    facts = facts_as_of(
        grid, calendar, index, min_possible_sessions_ytd=flow.definition.min_possible_sessions
    )
    return SchoolRegister(school, calendar, index, grid, facts, roster)


def thresholds(flow: d.Flow, term: str) -> list[Threshold]:
    """The year-to-date attendance levels at which the plan's stages start, for the chart (a
    school's overrides are written into its flow)."""
    params = flow.parameter_values(term)
    found: dict[float, list[str]] = {}
    for stage in sorted(flow.escalating_stages, key=lambda s: s.number):
        assert stage.entry is not None
        for criterion in stage.entry.criteria():
            text = criterion.when
            text = (
                flow.definition.conditions[text].when
                if text in flow.definition.conditions
                else text
            )
            for _, bound in _PCT_BOUND.findall(text):
                value = params.get(bound) if bound in params else _float(bound)
                if value is not None and 0 < value <= 100:
                    found.setdefault(value, []).append(f"Stage {stage.number}")
    out = [
        Threshold(f"{' / '.join(dict.fromkeys(labels))} below {value:g}%", value)
        for value, labels in sorted(found.items(), reverse=True)
    ]
    if 90.0 not in found:
        out.append(Threshold("Persistent absence 90%", 90.0))
    return out


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def term_name(calendar: SchoolCalendar, index: int) -> str:
    return str(calendar.term_name_of(max(index, 0)).value)


def task_definition(flow: d.Flow, task_id: str) -> d.Task | None:
    """The flow's definition of a task id (states, recurring and universal tasks)."""
    for stage in flow.definition.stages:
        for state in stage.states.values():
            for task in state.tasks:
                if task.id == task_id:
                    return task
            for recurring in state.recurring:
                if recurring.task.id == task_id:
                    return recurring.task
    for universal in flow.definition.universal:
        if universal.task.id == task_id:
            return universal.task
    return None


def stage_name(flow: d.Flow, number: int) -> str:
    if number <= 0:
        return "No open case"
    try:
        from escalation_flow.adapters.flow_graph import stage_title

        return stage_title(flow.stage(number))
    except KeyError:
        return f"Stage {number}"


def _import_stamp(web: WebApp) -> int:
    return web.reads.import_stamp()


def _cached(web: WebApp, key: Any, build: Any) -> Any:
    with web.cache_lock:
        if key in web.cache:
            return web.cache[key]
    value = build()
    with web.cache_lock:
        if len(web.cache) > 200:
            web.cache.clear()
        web.cache[key] = value
    return value


def is_known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)
