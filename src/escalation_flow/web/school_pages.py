"""The school dashboard from what the evening kept (``ports.SchoolPage``): each pupil's facts the
page shows and the trends' weeks, under the key the page would count them from now (the school
day, the newest import, the flow version), so that its first load reads a row instead of the
school's marks. A miss (an import since, a new flow, the first day) reads the register as before
and keeps the page for the next reader, as the trust table keeps its figures.

Only the whole school's page is kept: a class teacher's year groups are counted from the
register. A school with an open case on a flow version that counts a percentage from another
minimum of sessions is read from the register too (the kept facts are the current version's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from escalation_flow.core.definition import Flow
from escalation_flow.core.facts import FactTable
from escalation_flow.core.school_weeks import WeekFigures
from escalation_flow.ports import FiguresKey, OpenCase, SchoolPage
from escalation_flow.service.school_figures import school_page
from escalation_flow.web.school_data import SchoolAsOf, day_index_on, flow_of, roster_of
from escalation_flow.web.trends import Trends, YearWeeks
from escalation_flow.web.webapp import WebApp


@dataclass(frozen=True)
class KeptSchool:
    """The school as its page shows it (no register: the kept facts) and the kept page."""

    school: SchoolAsOf
    page: SchoolPage


def page_key(web: WebApp, school: str, today: date, flow: Flow) -> FiguresKey | None:
    """The key the page would count its figures from now (None: before the first school day)."""
    calendar = web.service.trust.calendar(school)
    index = day_index_on(calendar, today)
    if index < 0:
        return None
    return FiguresKey(calendar.school_days[index], web.reads.import_stamp(), flow.version)


def school_page_kept(
    web: WebApp,
    school: str,
    today: date,
    flow: Flow,
    cases: Sequence[OpenCase],
    key: FiguresKey | None,
) -> KeptSchool | None:
    """The school as kept under ``key`` (``page_key``; None: not asked), or None."""
    if key is None or not _one_minimum(web, school, flow, cases):
        return None
    return web.cached(("school-page", school, key), lambda: _read(web, school, today, key))


def _one_minimum(web: WebApp, school: str, flow: Flow, cases: Sequence[OpenCase]) -> bool:
    minimum = flow.definition.min_possible_sessions
    versions = {c.flow_version for c in cases if c.flow_version and c.flow_version != flow.version}
    return all(
        flow_of(web, school, v).definition.min_possible_sessions == minimum for v in versions
    )


def _read(web: WebApp, school: str, today: date, key: FiguresKey) -> KeptSchool | None:
    page = web.service.figures.kept_page(school, key)
    if page is None:
        return None
    calendar = web.service.trust.calendar(school)
    index = day_index_on(calendar, today)
    values = {name: np.array(column, dtype=np.float64) for name, column in page.columns.items()}
    facts = FactTable(school, page.pupils, index, calendar.school_days[index], values)
    as_of = SchoolAsOf(school, calendar, index, None, facts, roster_of(web, school))
    return KeptSchool(as_of, page)


def keep_school_page(web: WebApp, school: SchoolAsOf, flow: Flow, key: FiguresKey | None) -> None:
    """Keep the page counted from ``school``'s register under ``key`` (read before the register)
    for the next reader; none from a register read while later marks were stored."""
    register, facts = school.register, school.facts
    if key is None or register is None or facts is None or register.grid.later_marks:
        return
    minimum = flow.definition.min_possible_sessions
    page = school_page(facts, register.grid, school.calendar, minimum)
    web.service.figures.keep_page(school.school, key, page)


def with_kept_weeks(found: Trends, page: SchoolPage) -> Trends:
    """The trends with the kept weeks' attendance and persistent absence (their stages come
    from the cases' stage moves, read as before)."""
    last = found.last_year
    if last is not None and page.last_year is not None:
        last = _weeks(last, page.last_year)
    return Trends(_weeks(found.this_year, page.this_year), last)


def _weeks(year: YearWeeks, kept: WeekFigures) -> YearWeeks:
    return dataclasses.replace(
        year, attendance_pct=kept.attendance_pct, persistent_pct=kept.persistent_pct
    )
