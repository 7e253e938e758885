"""What the pages know about a school besides its cases: its name, flow, roster and register.

The register is the service's, as known now (``register_now``), for every pupil of the school
at once. It is cached per school and day and read again when a new import lands (the store's
import stamp changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from escalation_flow.core import definition as d
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.facts import FactTable
from escalation_flow.core.marks import PupilRecord, Roster
from escalation_flow.core.register import RegisterGrid
from escalation_flow.errors import CalendarError, NotFoundError
from escalation_flow.service.register import RegisterAsKnown
from escalation_flow.web.register_now import facts_known_now, register_known_now
from escalation_flow.web.webapp import WebApp


@dataclass(frozen=True)
class SchoolAsOf:
    """A school as the pages show it on one day: its register as known now, the facts at the
    day's end (as the school's current flow counts them; ``facts_of`` for a case's version),
    its roster."""

    school: str
    calendar: SchoolCalendar
    day_index: int  # -1: the day is before the calendar's first school day
    register: RegisterAsKnown | None
    facts: FactTable | None
    roster: Roster

    @property
    def grid(self) -> RegisterGrid | None:
        return None if self.register is None else self.register.grid

    def pupil(self, pupil: str) -> PupilRecord:
        return self.roster.pupils.get(pupil) or PupilRecord(school=self.school, pupil=pupil)

    def facts_of(self, pupil: str, flow: d.Flow | None = None) -> dict[str, float] | None:
        """The pupil's facts, as ``flow`` counts them (a case's version; default: current)."""
        facts = self.facts
        if flow is not None and self.register is not None:
            facts = facts_known_now(self.register, self.day_index, flow)
        if facts is None or pupil not in facts.pupils:
            return None
        return facts.row(pupil)

    def column(self, name: str) -> np.ndarray[Any, Any]:
        if self.facts is None:
            return np.empty(0)
        return self.facts.values[name]


def flow_of(web: WebApp, school: str, version: str = "") -> d.Flow:
    """The school's flow as the service read it, or the earlier version an open case runs
    under."""
    return web.service.setup_at(school, version).flow


def school_name(web: WebApp, school: str) -> str:
    try:
        return web.service.trust.school(school).name
    except NotFoundError:
        return school


def roster_of(web: WebApp, school: str, stamp: int | None = None) -> Roster:
    """The school's pupils (names, year groups), read again after each import (``stamp``: the
    import stamp a caller reading many rosters for one page has read once)."""
    stamp = web.reads.import_stamp() if stamp is None else stamp
    return web.cached(("roster", school, stamp), lambda: web.reads.roster(school))


def register_of(web: WebApp, school: str, day: date) -> SchoolAsOf:
    """The school's register as known now, with facts at the end of ``day`` (or the school day
    before it)."""
    stamp = web.reads.import_stamp()
    return web.cached(("register", school, day, stamp), lambda: _read_register(web, school, day))


def day_index_on(calendar: SchoolCalendar, day: date) -> int:
    """The school day whose facts the pages show on ``day``: that day or the school day before
    it (after the calendar: its last day; before it: -1)."""
    try:
        calendar.check_in_range(day)
        return calendar.index_on_or_before(day)
    except CalendarError:
        return calendar.n_days - 1 if day > calendar.last_day else -1


def _read_register(web: WebApp, school: str, day: date) -> SchoolAsOf:
    calendar = web.service.trust.calendar(school)
    roster = roster_of(web, school)
    index = day_index_on(calendar, day)
    if index < 0:
        return SchoolAsOf(school, calendar, -1, None, None, roster)
    register = register_known_now(web.service, school, web.now(), index)
    facts = facts_known_now(register, index, flow_of(web, school))
    return SchoolAsOf(school, calendar, index, register, facts, roster)
