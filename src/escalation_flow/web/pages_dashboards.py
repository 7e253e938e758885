"""The school dashboard (one school at a glance) and the trust overview (every school)."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.access import Principal
from escalation_flow.core.definition import Flow, Stage
from escalation_flow.core.school_figures import OLD_N_SCHOOL_DAYS, SchoolFigures, school_figures
from escalation_flow.errors import NotFoundError
from escalation_flow.ports import FiguresKey, OpenCase, PageReads, SchoolPage
from escalation_flow.web.auth import require_user
from escalation_flow.web.chart import Series, trend_svg
from escalation_flow.web.exports import Table, download, export_format
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.readable import readable_school
from escalation_flow.web.safeguarding import safeguarding_stages, safeguarding_states
from escalation_flow.web.school_data import (
    SchoolAsOf,
    day_index_on,
    flow_of,
    register_of,
    school_name,
)
from escalation_flow.web.school_pages import (
    keep_school_page,
    page_key,
    school_page_kept,
    with_kept_weeks,
)
from escalation_flow.web.trends import YearWeeks, trends
from escalation_flow.web.webapp import WebApp, web_of

SHOWN = 12  # pupils listed per problem before "and N more"
RESTRICTED_ROW = "Safeguarding (details only for the designated safeguarding lead)"


def routes() -> list[BaseRoute]:
    return [
        Route("/schools", schools_page),
        Route("/schools/{school}", school_page),
        Route("/trust", trust_page),
        Route("/schools/{school}/export.{fmt}", export_school),
        Route("/trust/export.{fmt}", export_trust),
    ]


@dataclass(frozen=True)
class PupilLink:
    pupil: str
    name: str
    year_group: str
    detail: str
    url: str


@dataclass
class StageRow:
    number: int
    title: str
    pupils: list[PupilLink] = field(default_factory=list)
    total: int = 0  # pupils at this stage, on every page


#: pupils with an open case listed per page of the school dashboard (a school of 1,000 pupils
#: has 700 or so by the spring)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    shown_from: int
    shown_to: int
    total: int

    def url(self, school: str, page: int) -> str:
        return f"/schools/{school}?page={page}#stages-h"


def page_stages(rows: list[StageRow], page: int, size: int = PAGE_SIZE) -> Pager:
    """Keep in ``rows`` only the pupils of ``page`` (1-based, clamped) in the rows' order;
    each row's ``total`` still counts all of its pupils."""
    total = sum(len(r.pupils) for r in rows)
    pages = max(1, math.ceil(total / size))
    page = min(max(page, 1), pages)
    start, end = (page - 1) * size, page * size
    seen = 0
    for row in rows:
        row.total = len(row.pupils)
        first, last = max(start - seen, 0), max(min(end - seen, row.total), 0)
        row.pupils = row.pupils[first:last] if first < row.total else []
        seen += row.total
    return Pager(page, pages, min(start + 1, total), min(end, total), total)


async def schools_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    schools = await run_in_threadpool(lambda: user.readable_schools(web.service.trust.schools))
    if user.is_trust_wide:
        return RedirectResponse("/trust", status_code=303)
    if len(schools) == 1:
        return RedirectResponse(f"/schools/{schools[0]}", status_code=303)
    names = [(s, school_name(web, s)) for s in schools]
    context = {
        "title": "Your schools",
        "user": user,
        "csrf": request.state.session.csrf_token,
        "nav": "schools",
        "schools": names,
    }
    return web.templates.TemplateResponse(request, "schools.html", context)


async def school_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    try:
        page = int(request.query_params.get("page", "1"))
    except ValueError:
        page = 1
    context = await run_in_threadpool(
        _school_context, web, user, request.path_params["school"], page
    )
    context.update(user=user, csrf=request.state.session.csrf_token, nav="schools")
    return web.templates.TemplateResponse(request, "school.html", context)


def _school_context(web: WebApp, user: Principal, key: str, page: int = 1) -> dict[str, Any]:
    school = readable_school(user, web, key)
    today = web.today()
    years = user.year_groups_at(school)
    flow = flow_of(web, school)
    cases = web.reads.open_cases(school)
    # the whole school's page from what the evening kept, when kept under the key it would be
    # counted from now; else (a class teacher's year groups, a miss) from the register
    counted = page_key(web, school, today, flow) if years is None else None
    kept = school_page_kept(web, school, today, flow, cases, counted)
    register = kept.school if kept is not None else register_of(web, school, today)
    if kept is None and counted is not None:  # once per key, for the next reader
        web.cached(("school-page-kept", school, counted),
                   lambda: keep_school_page(web, register, flow, counted))  # fmt: skip
    pupils = _pupils_in_scope(register, years)
    hidden = frozenset() if user.sees_safeguarding(school) else safeguarding_states(flow)
    hidden_stages = safeguarding_stages(flow) if hidden else frozenset()
    stages = {
        s.number: StageRow(s.number, stage_name(flow, s.number))
        for s in flow.definition.stages
        if not s.universal and s.number not in hidden_stages
    }
    for case in cases:
        if case.pupil not in pupils:
            continue
        if case.state in hidden:
            # Which pupils are in a child-protection stage is itself a safeguarding detail.
            row = stages.setdefault(-1, StageRow(-1, RESTRICTED_ROW))
        else:
            row = stages.setdefault(case.stage, StageRow(case.stage, stage_name(flow, case.stage)))
        case_flow = flow_of(web, school, case.flow_version)
        detail = _case_detail(register, case, case_flow)
        row.pupils.append(_link(register, school, case.pupil, detail))
    ordered = sorted(stages.values(), key=lambda r: -r.number if r.number >= 0 else -99)
    pager = page_stages(ordered, page, PAGE_SIZE)
    return {
        "title": school_name(web, school),
        "school": school,
        "school_name": school_name(web, school),
        "scope": None if years is None else "Years " + ", ".join(sorted(years)),
        "today": today,
        "as_of": register.calendar.school_days[register.day_index]
        if register.day_index >= 0
        else None,
        "headline": _headline(register, pupils),
        "stages": ordered,
        "pager": pager,
        "workload": _workload(web.reads, school, today, pupils),
        "unmarked": _problem(register, pupils, "unmarked_sessions", 0, "{n} unmarked session(s)"),
        "old_n": _problem(
            register,
            pupils,
            "oldest_unresolved_n_school_days",
            OLD_N_SCHOOL_DAYS,
            "oldest N is {n} school days old",
        ),
        "old_n_days": OLD_N_SCHOOL_DAYS,
        "freshness": web.reads.freshness(school),
        "flow_title": flow.definition.title,
        "trends": _trend_charts(
            web, school, register, flow, hidden_stages, None if years is None else pupils,
            kept.page if kept is not None else None,
        ),
    }


@dataclass(frozen=True)
class TrendChart:
    """One trend as the school page shows it: drawn for a desktop and for a phone, its key,
    and what it says in words (for screen readers, and anyone who prefers words)."""

    title: str
    desktop: str
    phone: str
    key: list[Series]
    words: str


_THIS_YEAR, _LAST_YEAR = "#1b3a5c", "#8a94a6"
_STAGE_COLOURS = ("#1b6fb3", "#2e8540", "#d9822b", "#b3261e", "#6b3fa0", "#555555")


def _trend_charts(
    web: WebApp,
    school: str,
    register: SchoolAsOf,
    flow: Flow,
    hidden: frozenset[int],
    pupils: set[str] | None = None,
    kept: SchoolPage | None = None,
) -> list[TrendChart]:
    """``hidden``: stages this viewer may not see counted (safeguarding), left out;
    ``pupils``: the viewer's pupils (a class teacher's year groups; None: the school);
    ``kept``: the school's weeks as the evening kept them (the register is not read)."""
    if register.day_index < 0:
        return []
    found = trends(
        register.grid,
        register.calendar,
        register.day_index,
        web.reads.stage_moves(school),
        flow.definition.min_possible_sessions,
        pupils,
    )
    if kept is not None:
        found = with_kept_weeks(found, kept)
    this, last = _without(found.this_year, hidden), found.last_year
    last = _without(last, hidden) if last is not None else None
    last_marked = last is not None and last.has_marks
    charts = [
        _percent_chart(
            "Attendance each school week", this.year, this.attendance_pct,
            last.year if last else None, last.attendance_pct if last_marked and last else None,
        ),
        _percent_chart(
            "Persistently absent (attendance 90% or less this year), share of pupils", this.year,
            this.persistent_pct, last.year if last else None,
            last.persistent_pct if last_marked and last else None,
            f" A pupil counts once they have {flow.definition.min_possible_sessions} possible "
            "sessions (the plan's minimum): before that, no data.",
        ),
    ]  # fmt: skip
    key: list[Series] = []
    compared = last is not None and bool(last.stages)
    for i, (stage, counts) in enumerate(sorted(this.stages.items())):
        colour = _STAGE_COLOURS[i % len(_STAGE_COLOURS)]
        label = f"{stage_name(flow, stage)}, {this.year}" if compared else stage_name(flow, stage)
        key.append(Series(label, _floats(counts), colour))
        if last is not None and stage in last.stages:
            key.append(
                Series(f"{stage_name(flow, stage)}, {last.year}",
                       _floats(last.stages[stage]), colour, dashed=True)
            )  # fmt: skip
    no_last = _no_last(last, bool(last and last.stages))
    words = (
        "Open cases at each week's end, by stage. "
        + ", ".join(f"{s.label}: {int(s.values[-1])} now" for s in key if not s.dashed)
        + (". " if key else "No open cases this year. ")
        + no_last
    )
    title = "Open cases by stage at each week's end"
    charts.append(
        TrendChart(title, trend_svg(key, title, unit="", from_zero=True),
                   trend_svg(key, title, unit="", from_zero=True, compact=True), key, words)
    )  # fmt: skip
    return charts


def _without(year: YearWeeks, hidden: frozenset[int]) -> YearWeeks:
    stages = {n: c for n, c in year.stages.items() if n not in hidden}
    return dataclasses.replace(year, stages=stages)


def _floats(values: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _no_last(last: YearWeeks | None, has_data: bool) -> str:
    if last is None:
        return "Last year: no data (the school's calendar starts this year)."
    if not has_data:
        return f"Last year ({last.year}): no data held."
    return ""


def _percent_chart(
    title: str,
    this_year: str,
    this: tuple[float, ...],
    last_year: str | None,
    last: tuple[float, ...] | None,
    note: str = "",
) -> TrendChart:
    key = [Series(f"This year ({this_year})", this, _THIS_YEAR)]
    if last is not None and last_year is not None:
        key.append(Series(f"Last year ({last_year})", last, _LAST_YEAR, dashed=True))
    known = [v for v in this if not math.isnan(v)]
    now = f"latest week {known[-1]:.1f}%" if known else "no marks yet"
    if last is None:
        then = "last year: no data" + ("" if last_year else " (the calendar starts this year)")
    else:
        same = last[len(this) - 1] if len(this) <= len(last) else math.nan
        then = (
            f"last year at the same week {same:.1f}%" if not math.isnan(same)
            else "last year: no data for the same week"
        )  # fmt: skip
    return TrendChart(
        title,
        trend_svg(key, title),
        trend_svg(key, title, compact=True),
        key,
        f"{title}: this year {now}; {then}.{note}",
    )


def _case_detail(register: SchoolAsOf, case: OpenCase, flow: Flow) -> str:
    """Attendance as the case's flow version counts it, and since when the case is open."""
    facts = register.facts_of(case.pupil, flow) or {}
    pct = facts.get("attendance_pct", math.nan)
    shown = "attendance not known yet" if math.isnan(pct) else f"attendance {pct:.1f}%"
    since = f", case open since {case.opened_on.day} {case.opened_on:%b}" if case.opened_on else ""
    return shown + since


def _pupils_in_scope(register: SchoolAsOf, years: frozenset[str] | None) -> set[str]:
    everyone = set(register.roster.pupils) | set(register.facts.pupils if register.facts else ())
    if years is None:
        return everyone
    return {p for p in everyone if register.pupil(p).year_group in years}


def _link(register: SchoolAsOf, school: str, pupil: str, detail: str) -> PupilLink:
    record = register.pupil(pupil)
    name = f"{record.forename} {record.surname}".strip() or pupil
    return PupilLink(pupil, name, record.year_group, detail, f"/schools/{school}/pupils/{pupil}")


def _headline(register: SchoolAsOf, pupils: set[str]) -> SchoolFigures:
    return school_figures(register.facts, pupils)


def _problem(
    register: SchoolAsOf, pupils: set[str], fact: str, above: float, text: str
) -> tuple[list[PupilLink], int]:
    """Pupils whose ``fact`` is above ``above``, worst first: (the first few, how many)."""
    if register.facts is None:
        return [], 0
    values = register.column(fact)
    found = [
        (float(values[i]), p)
        for i, p in enumerate(register.facts.pupils)
        if p in pupils and values[i] > above
    ]
    found.sort(key=lambda vp: (-vp[0], vp[1]))
    links = [_link(register, register.school, p, text.format(n=int(v))) for v, p in found[:SHOWN]]
    return links, len(found)


@dataclass(frozen=True)
class TaskCount:
    role: str
    overdue: int
    this_week: int
    next_week: int


def _workload(reads: PageReads, school: str, today: date, pupils: set[str]) -> list[TaskCount]:
    end_of_week = today + timedelta(days=6 - today.weekday())
    end_of_next = end_of_week + timedelta(days=7)
    counts: dict[str, Counter[str]] = {}
    for task in reads.tasks_due_by(school, end_of_next):
        if task.pupil and task.pupil not in pupils:
            continue
        due = task.due
        bucket = "overdue" if due < today else "this_week" if due <= end_of_week else "next_week"
        counts.setdefault(task.role, Counter())[bucket] += 1
    return [
        TaskCount(role, c["overdue"], c["this_week"], c["next_week"])
        for role, c in sorted(counts.items())
    ]


# -- the trust ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolRow:
    school: str
    name: str
    headline: SchoolFigures
    stages: list[int]  # open cases at stage 1..max
    open_cases: int
    overdue: int
    last_day_evaluated: date | None

    @property
    def unmarked_pupils(self) -> int:
        return self.headline.unmarked_pupils

    @property
    def old_n_pupils(self) -> int:
        return self.headline.old_n_pupils


async def trust_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    query = request.query_params
    context = await run_in_threadpool(
        _trust_context, web, user, query.get("sort", "school"), query.get("dir", "")
    )
    context.update(user=user, csrf=request.state.session.csrf_token, nav="trust")
    return web.templates.TemplateResponse(request, "trust.html", context)


#: the trust table's columns: (key, heading, the value sorted on, the first direction)
TRUST_COLUMNS: tuple[tuple[str, str, Callable[[SchoolRow], Any], str], ...] = (
    ("school", "School", lambda r: r.name.casefold(), "asc"),
    ("attendance", "Attendance", lambda r: _number(r.headline.attendance_pct), "asc"),
    ("persistent", "Persistently absent", lambda r: r.headline.persistent, "desc"),
    ("severe", "Severely absent", lambda r: r.headline.severe, "desc"),
    ("cases", "Open cases", lambda r: r.open_cases, "desc"),
    ("overdue", "Overdue tasks", lambda r: r.overdue, "desc"),
    ("problems", "Register problems", lambda r: r.unmarked_pupils + r.old_n_pupils, "desc"),
    ("evaluated", "Cases up to date for", lambda r: r.last_day_evaluated or date.min, "asc"),
)


def _number(value: float) -> float:
    """Not known sorts below every number (first when ascending, last when descending)."""
    return -math.inf if math.isnan(value) else value


@dataclass(frozen=True)
class SortLink:
    key: str
    heading: str
    url: str
    sorted: str  # "ascending", "descending" or "none" (``aria-sort``)


def sort_rows(rows: list[SchoolRow], key: str, direction: str) -> tuple[str, str]:
    """Sort ``rows`` in place by a column (unknown: the school's name); the column and
    direction used. Ties keep the schools' names in order."""
    column = next((c for c in TRUST_COLUMNS if c[0] == key), TRUST_COLUMNS[0])
    direction = direction if direction in ("asc", "desc") else column[3]
    rows.sort(key=lambda r: r.name.casefold())
    rows.sort(key=column[2], reverse=direction == "desc")
    return column[0], direction


def _sort_links(key: str, direction: str) -> list[SortLink]:
    out = []
    for column, heading, _, first in TRUST_COLUMNS:
        if column == key:
            flip = "desc" if direction == "asc" else "asc"
            state = "ascending" if direction == "asc" else "descending"
            out.append(SortLink(column, heading, f"/trust?sort={column}&dir={flip}", state))
        else:
            out.append(SortLink(column, heading, f"/trust?sort={column}&dir={first}", "none"))
    return out


def _trust_context(
    web: WebApp, user: Principal, sort: str = "school", direction: str = ""
) -> dict[str, Any]:
    if not user.is_trust_wide:
        raise NotFoundError("the trust overview is for the trust's own staff")
    trust = web.service.trust
    schools = user.readable_schools(trust.schools)
    today = web.today()
    by_stage = web.reads.stage_counts()
    overdue = web.reads.overdue_counts(today)
    max_stage = max([s.number for s in _all_stages(web, schools)] or [1])
    figures = trust_figures(web, schools, today)
    rows = []
    for school in schools:
        counts = by_stage.get(school, {})
        rows.append(
            SchoolRow(
                school=school,
                name=school_name(web, school),
                headline=figures[school],
                stages=[counts.get(n, 0) for n in range(1, max_stage + 1)],
                open_cases=sum(counts.values()),
                overdue=overdue.get(school, 0),
                last_day_evaluated=web.reads.freshness(school).last_day_evaluated,
            )
        )
    key, direction = sort_rows(rows, sort, direction)
    return {
        "title": "Trust overview",
        "trust_name": trust.name,
        "today": today,
        "rows": rows,
        "columns": _sort_links(key, direction),
        "stage_numbers": list(range(1, max_stage + 1)),
        "old_n_days": OLD_N_SCHOOL_DAYS,
    }


def trust_figures(web: WebApp, schools: list[str], today: date) -> dict[str, SchoolFigures]:
    """Each school's figures as its dashboard counts them today: kept ones when kept under the
    key they would be counted from now (the evening keeps them), else counted from the school's
    register, as the school page does, and kept for the next reader."""
    desk = web.service.figures
    stamp = web.reads.import_stamp()
    wanted: dict[str, FiguresKey] = {}
    for school in schools:
        calendar = web.service.trust.calendar(school)
        index = day_index_on(calendar, today)
        if index >= 0:
            version = flow_of(web, school).version
            wanted[school] = FiguresKey(calendar.school_days[index], stamp, version)
    found = desk.kept(wanted)
    for school in schools:
        if school not in found:
            register = register_of(web, school, today)
            found[school] = school_figures(register.facts, _pupils_in_scope(register, None))
            grid = register.grid
            if school in wanted and grid is not None and not grid.later_marks:
                desk.keep(school, wanted[school], found[school])
    return found


def _all_stages(web: WebApp, schools: list[str]) -> list[Stage]:
    return [s for school in schools for s in flow_of(web, school).definition.stages]


# -- downloads: the dashboards' tables as CSV or Excel (``exports``) ---------------------------


async def export_school(request: Request) -> Response:
    """The school's case list (every pupil with an open case, by stage) as this viewer sees it."""
    user = await require_user(request)
    web = web_of(request)
    fmt = export_format(request)

    def build() -> Response:
        context = _school_context(web, user, request.path_params["school"])
        rows = [
            (row.number if row.number >= 0 else "", row.title, p.pupil, p.name, p.year_group,
             p.detail)
            for row in context["stages"]
            for p in row.pupils
        ]  # fmt: skip
        header = ("Stage", "Stage name", "Pupil id", "Pupil", "Year group", "Attendance and case")
        name = f"cases-{context['school']}-{context['today'].isoformat()}"
        table = Table(name, "Open cases", header, rows)
        return download(request, web, user, table, fmt, what="case list", school=context["school"])

    return await run_in_threadpool(build)


async def export_trust(request: Request) -> Response:
    """The trust overview's table: one row per school, the figures as numbers."""
    user = await require_user(request)
    web = web_of(request)
    fmt = export_format(request)

    def build() -> Response:
        context = _trust_context(web, user)
        stages = context["stage_numbers"]
        header = (
            "School id", "School", "Pupils", "Attendance %", "Persistently absent",
            "Severely absent", "Open cases", *(f"Stage {n}" for n in stages), "Overdue tasks",
            "Pupils with unmarked sessions", f"Pupils with an N older than {OLD_N_SCHOOL_DAYS} days",
            "Cases up to date for",
        )  # fmt: skip
        rows = [
            (r.school, r.name, r.headline.pupils, _rounded(r.headline.attendance_pct),
             r.headline.persistent, r.headline.severe, r.open_cases, *r.stages, r.overdue,
             r.unmarked_pupils, r.old_n_pupils, r.last_day_evaluated)
            for r in context["rows"]
        ]  # fmt: skip
        table = Table(f"trust-{context['today'].isoformat()}", "Trust overview", header, rows)
        return download(request, web, user, table, fmt, what="trust overview")

    return await run_in_threadpool(build)


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 1)
