"""The termly targeting meeting's page (issue 16, part 4): the list a local authority officer
and the school go through together each term, the actions agreed for each pupil recorded on it,
and the same list as CSV and PDF.

Access as everywhere: the school must be one this person may read (else "not found"); a class
teacher sees only the pupils of their year groups; which pupils are in a child-protection stage
shows only to whom may see safeguarding records; auditors read and never record. The siblings
column names a sibling's school only when this person may read it, and a sibling at this school
only when they may read that pupil (``report_ports``), as the case page's Family section does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.adapters.report_files import targeting_csv
from escalation_flow.adapters.report_pdf import targeting_pdf
from escalation_flow.core.access import Principal
from escalation_flow.core.targeting import find_term, term_key, terms_of
from escalation_flow.errors import EscalationFlowError, NotFoundError
from escalation_flow.report_views import TargetingReport
from escalation_flow.service.reports import Reports
from escalation_flow.web.auth import checked_form, field, require_user
from escalation_flow.web.exports import report_file
from escalation_flow.web.readable import readable_school
from escalation_flow.web.safeguarding import safeguarding_states
from escalation_flow.web.school_data import flow_of, school_name
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of

RESTRICTED = "restricted (safeguarding)"


def routes() -> list[BaseRoute]:
    return [
        Route("/schools/{school}/targeting", targeting_page),
        Route("/schools/{school}/targeting.{fmt:str}", targeting_file),
        Route("/schools/{school}/targeting/actions", record_action, methods=["POST"]),
    ]


async def targeting_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    school, term = request.path_params["school"], request.query_params.get("term")
    report = await run_in_threadpool(_report_for, web, user, school, term)
    context: dict[str, Any] = {
        "title": f"Termly targeting meeting: {school_name(web, report.school)}",
        "user": user,
        "csrf": request.state.session.csrf_token,
        "nav": "schools",
        "report": report,
        "school_name": school_name(web, report.school),
        "terms": [term_key(t) for t in terms_of(web.service.setup(report.school).calendar)],
        "may_record": user.can_write(report.school),
        "recorded": request.query_params.get("recorded"),
    }
    return web.templates.TemplateResponse(request, "targeting.html", context)


async def targeting_file(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "pdf"):
        raise NotFoundError(f"no targeting report as {fmt!r}")
    school, term = request.path_params["school"], request.query_params.get("term")

    def build() -> tuple[TargetingReport, bytes]:
        report = _report_for(web, user, school, term)
        return report, targeting_csv(report) if fmt == "csv" else targeting_pdf(report)

    report, data = await run_in_threadpool(build)
    return report_file(data, fmt, f"targeting-{report.school}-{report.term}.{fmt}")


async def record_action(request: Request) -> Response:
    user, form = await checked_form(request)
    web = web_of(request)
    term, pupil, action = field(form, "term"), field(form, "pupil"), field(form, "action")

    def act() -> str:
        school = readable_school(user, web, request.path_params["school"])
        if not user.can_write(school):
            raise ForbiddenError("You can read this list but not record on it.")
        if not term or not pupil or not action:
            raise ForbiddenError("Say which pupil and what was agreed, then record it.")
        report = _report_for(web, user, school, term)
        if pupil not in {r.pupil for r in report.rows}:
            raise NotFoundError(f"no pupil {pupil!r} on this list")
        try:
            _desk(web).record_action(school, term, pupil, action, by=user.username)
        except EscalationFlowError as exc:
            raise ForbiddenError(str(exc)) from None
        return school

    school = await run_in_threadpool(act)
    return RedirectResponse(
        f"/schools/{school}/targeting?term={term}&recorded={pupil}#pupil-{pupil}", status_code=303
    )


def _desk(web: WebApp) -> Reports:
    desk = web.backend.reports
    if desk is None:
        raise NotFoundError("the targeting report is not available here")
    return desk


def _report_for(web: WebApp, user: Principal, key: str, term: str | None) -> TargetingReport:
    """The report as this person may read it (the term holding today by default)."""
    school = readable_school(user, web, key)
    calendar = web.service.setup(school).calendar
    if not term:
        today = web.today()
        held = [t for t in terms_of(calendar) if t.end >= today]
        term = term_key(held[0] if held else terms_of(calendar)[-1])
    as_of = min(web.today(), find_term(calendar, term).end)
    visible = user.readable_schools(web.service.trust.schools)
    report = _desk(web).targeting(
        school, term, as_of=as_of, visible_schools=visible, viewer=user
    )
    return _as_seen_by(web, user, report)


def _as_seen_by(web: WebApp, user: Principal, report: TargetingReport) -> TargetingReport:
    school = report.school
    roster_years = {r.pupil: r.year_group or None for r in report.rows}
    hidden = (
        frozenset() if user.sees_safeguarding(school) else safeguarding_states(flow_of(web, school))
    )
    rows = tuple(
        replace(r, case_status=RESTRICTED, stage=None, state="") if r.state in hidden else r
        for r in report.rows
        if user.can_read_pupil(school, roster_years[r.pupil])
    )
    return replace(report, rows=rows)
