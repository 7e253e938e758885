"""The school dashboard (one school at a glance) and the trust overview (every school)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.access import Principal
from escalation_flow.core.definition import Flow, Stage
from escalation_flow.errors import NotFoundError
from escalation_flow.ports import OpenCase, PageReads
from escalation_flow.web.auth import require_user
from escalation_flow.web.exports import Table, download, export_format
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.readable import readable_school
from escalation_flow.web.safeguarding import safeguarding_stages, safeguarding_states
from escalation_flow.web.school_data import SchoolAsOf, flow_of, register_of, school_name
from escalation_flow.web.webapp import WebApp, web_of

SHOWN = 12  # pupils listed per problem before "and N more"
#: "N must be replaced within 5 school days": older ones are a data problem.
OLD_N_SCHOOL_DAYS = 5
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


@dataclass(frozen=True)
class Headline:
    pupils: int
    attendance_pct: float
    persistent: int
    severe: int
    known: int  # pupils whose year-to-date percentage is known

    def share(self, count: int) -> float:
        return 100.0 * count / self.known if self.known else math.nan


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
    context = await run_in_threadpool(_school_context, web, user, request.path_params["school"])
    context.update(user=user, csrf=request.state.session.csrf_token, nav="schools")
    return web.templates.TemplateResponse(request, "school.html", context)


def _school_context(web: WebApp, user: Principal, key: str) -> dict[str, Any]:
    school = readable_school(user, web, key)
    today = web.today()
    register = register_of(web, school, today)
    years = user.year_groups_at(school)
    pupils = _pupils_in_scope(register, years)
    flow = flow_of(web, school)
    hidden = frozenset() if user.sees_safeguarding(school) else safeguarding_states(flow)
    hidden_stages = safeguarding_stages(flow) if hidden else frozenset()
    stages = {
        s.number: StageRow(s.number, stage_name(flow, s.number))
        for s in flow.definition.stages
        if not s.universal and s.number not in hidden_stages
    }
    for case in web.reads.open_cases(school):
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
        "stages": sorted(stages.values(), key=lambda r: -r.number if r.number >= 0 else -99),
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
    }


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


def _mask(register: SchoolAsOf, pupils: set[str]) -> np.ndarray[Any, Any]:
    if register.facts is None:
        return np.zeros(0, dtype=bool)
    return np.array([p in pupils for p in register.facts.pupils], dtype=bool)


def _headline(register: SchoolAsOf, pupils: set[str]) -> Headline:
    mask = _mask(register, pupils)
    if not mask.any():
        return Headline(len(pupils), math.nan, 0, 0, 0)
    attended = register.column("attended_sessions")[mask].sum()
    possible = register.column("possible_sessions")[mask].sum()
    persistent = register.column("persistent_absence")[mask]
    severe = register.column("severe_absence")[mask]
    known = ~np.isnan(persistent)
    return Headline(
        pupils=len(pupils),
        attendance_pct=100.0 * attended / possible if possible else math.nan,
        persistent=int(np.nansum(persistent)),
        severe=int(np.nansum(severe)),
        known=int(known.sum()),
    )


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
    headline: Headline
    stages: list[int]  # open cases at stage 1..max
    open_cases: int
    overdue: int
    unmarked_pupils: int
    old_n_pupils: int
    last_day_evaluated: date | None


async def trust_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    context = await run_in_threadpool(_trust_context, web, user)
    context.update(user=user, csrf=request.state.session.csrf_token, nav="trust")
    return web.templates.TemplateResponse(request, "trust.html", context)


def _trust_context(web: WebApp, user: Principal) -> dict[str, Any]:
    if not user.is_trust_wide:
        raise NotFoundError("the trust overview is for the trust's own staff")
    trust = web.service.trust
    schools = user.readable_schools(trust.schools)
    today = web.today()
    by_stage = web.reads.stage_counts()
    overdue = web.reads.overdue_counts(today)
    max_stage = max([s.number for s in _all_stages(web, schools)] or [1])
    rows = []
    for school in schools:
        register = register_of(web, school, today)
        everyone = _pupils_in_scope(register, None)
        counts = by_stage.get(school, {})
        rows.append(
            SchoolRow(
                school=school,
                name=school_name(web, school),
                headline=_headline(register, everyone),
                stages=[counts.get(n, 0) for n in range(1, max_stage + 1)],
                open_cases=sum(counts.values()),
                overdue=overdue.get(school, 0),
                unmarked_pupils=_problem(register, everyone, "unmarked_sessions", 0, "")[1],
                old_n_pupils=_problem(
                    register, everyone, "oldest_unresolved_n_school_days", OLD_N_SCHOOL_DAYS, ""
                )[1],
                last_day_evaluated=web.reads.freshness(school).last_day_evaluated,
            )
        )
    return {
        "title": "Trust overview",
        "trust_name": trust.name,
        "today": today,
        "rows": rows,
        "stage_numbers": list(range(1, max_stage + 1)),
        "old_n_days": OLD_N_SCHOOL_DAYS,
    }


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
