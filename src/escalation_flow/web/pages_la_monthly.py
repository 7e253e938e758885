"""The local authority's monthly notifications page (issue 16, part 5): the month's pupils with
10 consecutive school days of unauthorised absence or expected to miss 15 school days through
illness, as CSV and PDF, and "recorded when sent": who marked the month's notification sent, and
when, each pupil's first notification beside them.

Access as on the targeting page: the school must be one this person may read (else "not found"),
a class teacher sees only their year groups' pupils. Recording the month as sent is for whoever
records the local authority's steps at the school (its attendance lead, or who leads it), as on
the command line (``report la-monthly --record-sent``); what is recorded is the whole school's
list, whoever looks at it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.adapters.report_files import la_monthly_csv
from escalation_flow.adapters.report_pdf import la_monthly_pdf
from escalation_flow.core.access import Principal
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Role
from escalation_flow.errors import EscalationFlowError, NotFoundError
from escalation_flow.report_views import LaMonthlyReport
from escalation_flow.service.reports import Reports
from escalation_flow.web.auth import checked_form, field, require_user
from escalation_flow.web.exports import report_file
from escalation_flow.web.readable import readable_school
from escalation_flow.web.school_data import school_name
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of


def routes() -> list[BaseRoute]:
    return [
        Route("/schools/{school}/la-monthly", la_monthly_page),
        Route("/schools/{school}/la-monthly.{fmt:str}", la_monthly_file),
        Route("/schools/{school}/la-monthly/sent", record_sent, methods=["POST"]),
    ]


async def la_monthly_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    school, month = request.path_params["school"], request.query_params.get("month")

    def build() -> tuple[LaMonthlyReport, list[str]]:
        report = _report_for(web, user, school, month)
        return report, months_so_far(web.service.setup(report.school).calendar, web.today())

    report, months = await run_in_threadpool(build)
    context: dict[str, Any] = {
        "title": f"Monthly notifications to the local authority: {school_name(web, report.school)}",
        "user": user,
        "csrf": request.state.session.csrf_token,
        "nav": "schools",
        "report": report,
        "school_name": school_name(web, report.school),
        "months": months,
        "may_record": may_record_sent(user, report.school),
        "just_sent": request.query_params.get("sent") == "1",
    }
    return web.templates.TemplateResponse(request, "la_monthly.html", context)


async def la_monthly_file(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "pdf"):
        raise NotFoundError(f"no monthly notification as {fmt!r}")
    school, month = request.path_params["school"], request.query_params.get("month")

    def build() -> tuple[LaMonthlyReport, bytes]:
        report = _report_for(web, user, school, month)
        return report, la_monthly_csv(report) if fmt == "csv" else la_monthly_pdf(report)

    report, data = await run_in_threadpool(build)
    return report_file(data, fmt, f"la-monthly-{report.school}-{report.month}.{fmt}")


async def record_sent(request: Request) -> Response:
    user, form = await checked_form(request)
    web = web_of(request)
    month = field(form, "month")

    def act() -> str:
        school = readable_school(user, web, request.path_params["school"])
        if not may_record_sent(user, school):
            raise ForbiddenError(
                "Only the school's attendance lead, its headteacher or the trust's attendance "
                "team record the notification as sent."
            )
        if not month:
            raise ForbiddenError("Say which month was sent.")
        # the whole school's list, as the command line records it: what went to the authority
        report = _desk(web).la_monthly(school, month)
        try:
            _desk(web).record_sent(report, la_monthly_csv(report), by=user.username)
        except EscalationFlowError as exc:
            raise ForbiddenError(str(exc)) from None
        return school

    school = await run_in_threadpool(act)
    return RedirectResponse(f"/schools/{school}/la-monthly?month={month}&sent=1", status_code=303)


def may_record_sent(user: Principal, school: str) -> bool:
    """Whoever records the local authority's steps at the school, or leads it (the command
    line's ``acting.records_for_the_local_authority``); never an auditor."""
    return user.can_write(school) and user.may_complete(school, Role.LOCAL_AUTHORITY.value, None)


def months_so_far(calendar: SchoolCalendar, today: date) -> list[str]:
    """``YYYY-MM`` of each month of the calendar with a school day on or before ``today``,
    latest first."""
    months = {f"{d:%Y-%m}" for d in calendar.school_days if d <= today}
    return sorted(months, reverse=True)


def _desk(web: WebApp) -> Reports:
    desk = web.backend.reports
    if desk is None:
        raise NotFoundError("the monthly notifications are not available here")
    return desk


def _report_for(web: WebApp, user: Principal, key: str, month: str | None) -> LaMonthlyReport:
    """The month's report as this person may read it (by default the latest month begun)."""
    school = readable_school(user, web, key)
    if not month:
        begun = months_so_far(web.service.setup(school).calendar, web.today())
        month = begun[0] if begun else f"{web.today():%Y-%m}"
    report = _desk(web).la_monthly(school, month)
    rows = tuple(r for r in report.rows if user.can_read_pupil(school, r.year_group or None))
    return replace(report, rows=rows)
