"""The case page: a pupil's stage, why, what is next, attendance, letters and the whole story.

Readable only by staff whose grants cover the pupil (a class teacher: their year groups); a
pupil outside them is "not found", by URL or by form. Viewing a case that holds safeguarding
records, as someone allowed to see them, is written to the audit log.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.actors import is_system_actor
from escalation_flow.core.access import Principal
from escalation_flow.core.definition import Flow, StateKind
from escalation_flow.core.marks import PupilRecord
from escalation_flow.core.undo import UndoOffer
from escalation_flow.errors import ActionError, NotFoundError
from escalation_flow.ports import AuditNote
from escalation_flow.service.views import CaseView
from escalation_flow.web.auth import checked_form, field, require_user
from escalation_flow.web.case_story import fact_line, state_label, story, why
from escalation_flow.web.chart import attendance_svg, weekly_attendance
from escalation_flow.web.filters import humanize
from escalation_flow.web.plan_words import stage_name, term_name, thresholds
from escalation_flow.web.readable import readable_pupil
from escalation_flow.web.safeguarding import (
    is_safeguarding_name,
    restricted_events,
    safeguarding_states,
)
from escalation_flow.web.school_data import flow_of, register_of, school_name
from escalation_flow.web.security import client_address
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of
from escalation_flow.web.worklist import TaskItem, pupil_name, task_item

#: The facts a member of staff looks at first; the rest are one click away.
KEY_FACTS = (
    "attendance_pct",
    "attendance_pct_this_term",
    "attendance_pct_last_4_school_weeks",
    "attendance_trend",
    "unauthorised_sessions_last_10_school_weeks",
    "late_sessions_this_half_term",
    "unresolved_n_sessions",
    "consecutive_unauthorised_school_days",
)


def routes() -> list[BaseRoute]:
    return [
        Route("/schools/{school}/pupils/{pupil}", case_page, methods=["GET"]),
        Route("/schools/{school}/pupils/{pupil}/events", record_event, methods=["POST"]),
        Route("/schools/{school}/pupils/{pupil}/undo", undo_action, methods=["POST"]),
    ]


async def case_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    params = request.path_params
    context = await run_in_threadpool(
        _case_context,
        web,
        user,
        params["school"],
        params["pupil"],
        client_address(request),
        dict(request.query_params),
    )
    context.update(user=user, csrf=request.state.session.csrf_token, nav="schools")
    return web.templates.TemplateResponse(request, "case.html", context)


def _case_context(
    web: WebApp, user: Principal, school_key: str, pupil: str, address: str, query: dict[str, str]
) -> dict[str, Any]:
    school, record = readable_pupil(web, user, school_key, pupil)
    try:
        case = web.service.case(school, pupil)
    except NotFoundError:
        case = None
    # an open case is told in the words of the flow version it runs under
    flow = flow_of(web, school, case.flow_version if case and case.status == "open" else "")
    events = [dict(h.event) for h in case.history] if case else []
    restricted = restricted_events(flow, events)
    may_see = user.sees_safeguarding(school)
    if any(restricted) and may_see:
        web.staff.audit(
            user.username,
            "view_safeguarding",
            web.now(),
            school=school,
            pupil=pupil,
            detail="case page",
            ip=address,
        )
    current_hidden = bool(
        case
        and case.status == "open"
        and restricted
        and restricted[-1]
        and not may_see
        and _in_restricted_state(flow, case.state)
    )
    return {
        "title": pupil_name(record, pupil),
        "school": school,
        "school_name": school_name(web, school),
        "pupil": pupil,
        "name": pupil_name(record, pupil),
        "record": record,
        "case": case,
        "stage_title": _stage_title(flow, case, current_hidden),
        "state_text": "" if not case or current_hidden else state_label(flow, case.state),
        "why": why(flow, events, restricted, may_see),
        "story": story(
            flow,
            [(e, h.at, h.actor) for e, h in zip(events, case.history, strict=True)] if case else [],
            restricted,
            may_see,
            # the register's notices, to whoever may see the contacts: every reader of the pupil
            web.service.penalty_notices.steps(school, pupil),
        ),
        "tasks": _open_tasks(web, user, flow, school, case, current_hidden),
        "timers": [] if case is None or current_hidden else list(case.pending_timers),
        "letters": web.reads.letters_of(school, pupil) if case else [],
        "chart": _chart(web, school, pupil, record),
        "facts": _facts(web, school, pupil, flow),
        "panel": _at_panel(flow, case, current_hidden),
        "contacts": web.service.families.contacts(school, pupil),
        "siblings": web.service.families.siblings(
            school, pupil, viewer=user, attendance=lambda s, p: _attendance(web, s, p)
        ),
        "events": _events(flow, user, school),
        **_penalty(web, school, pupil, case, current_hidden),
        "can_write": user.can_write(school),
        "undo": _undo_offer(web, user, school, pupil, case),
        "may_approve": user.may_approve_letter(school, "attendance_lead"),
        "flash": _flash(query),
        "back": f"/schools/{school}/pupils/{pupil}",
        "show_school": False,
        "bulk": False,
    }


def _penalty(
    web: WebApp, school: str, pupil: str, case: CaseView | None, hidden: bool
) -> dict[str, Any]:
    """Where a step proposes a penalty notice: may one be considered for the child at all, and
    may one be issued to each parent (issue 16); else nothing is said."""
    if case is None or case.status != "open" or hidden:
        return {"penalty_notices": None, "penalty_grounds": None}
    desk = web.service.penalty_notices
    found = desk.for_case(school, pupil, case.flow_version, [t.task for t in case.open_tasks])
    grounds = desk.grounds(school, pupil) if found is not None else None
    return {"penalty_notices": found, "penalty_grounds": grounds}


def _at_panel(flow: Flow, case: CaseView | None, hidden: bool) -> bool:
    """The open case is at an attendance panel meeting (plan 003: "Establish everyone with
    parental responsibility and date of birth, other siblings and their schools")."""
    if case is None or case.status != "open" or hidden or case.state not in flow.states:
        return False
    return flow.state(case.state).state.kind is StateKind.PANEL


def _in_restricted_state(flow: Flow, state: str) -> bool:
    return state in safeguarding_states(flow)


def _stage_title(flow: Flow, case: CaseView | None, hidden: bool) -> str:
    if case is None:
        return "No case: attendance has not met any stage of the plan"
    if case.status != "open":
        return f"No open case (closed {case.closed_on:%d %B %Y})" if case.closed_on else "Closed"
    if hidden:
        return "Restricted: a safeguarding stage"
    return stage_name(flow, case.stage)


def _open_tasks(
    web: WebApp, user: Principal, flow: Flow, school: str, case: CaseView | None, hidden: bool
) -> list[TaskItem]:
    if case is None:
        return []
    roster = register_of(web, school, web.today()).roster
    acks = web.staff.acks(t.id for t in case.open_tasks)
    label = "restricted stage" if hidden else f"case at {stage_name(flow, case.stage)}"
    name = school_name(web, school)
    # The case's task views do not name their letters; the service's single task view does.
    views = [web.service.task(t.id) if t.kind == "letter" else t for t in case.open_tasks]
    return [
        task_item(
            t,
            user=user,
            flow=flow,
            roster=roster,
            school_name=name,
            today=web.today(),
            stage_label=label,
            ack=acks.get(t.id),
        )
        for t in views
    ]


def _chart(web: WebApp, school: str, pupil: str, record: PupilRecord) -> dict[str, str] | None:
    register = register_of(web, school, web.today())
    if register.grid is None or register.day_index < 0 or pupil not in register.grid.pupils:
        return None
    grid = register.grid
    i = grid.pupil_index(pupil)
    weeks = weekly_attendance(
        grid.codes[i],
        int(grid.enrolment.first_session[i]),
        int(grid.enrolment.last_session[i]),
        register.calendar,
        register.day_index,
    )
    flow = flow_of(web, school, _open_version(web, school, pupil))
    lines = thresholds(flow, term_name(register.calendar, register.day_index))
    title = f"Attendance of {pupil_name(record, pupil)}, week by week, this school year"
    return {
        "desktop": attendance_svg(weeks, lines, title),
        "phone": attendance_svg(weeks, lines, title, compact=True),
    }


def _facts(web: WebApp, school: str, pupil: str, flow: Flow) -> dict[str, Any]:
    """The pupil's facts as known now, counted as ``flow`` (their open case's version) counts."""
    register = register_of(web, school, web.today())
    values = register.facts_of(pupil, flow)
    if values is None:
        return {"key": [], "all": [], "as_of": None}
    return {
        "key": [fact_line(n, values[n]) for n in KEY_FACTS if n in values],
        "all": [fact_line(n, v) for n, v in values.items()],
        "as_of": register.calendar.school_days[register.day_index],
    }


def _attendance(web: WebApp, school: str, pupil: str) -> float | None:
    """A sibling's attendance year to date, from the pages' register of their school."""
    values = register_of(web, school, web.today()).facts_of(pupil)
    pct = None if values is None else values.get("attendance_pct")
    return None if pct is None or pct != pct else float(pct)  # NaN: too few sessions


def _open_version(web: WebApp, school: str, pupil: str) -> str:
    """The flow version the pupil's open case runs under ("": none, the school's current)."""
    try:
        case = web.service.case(school, pupil)
    except NotFoundError:
        return ""
    return case.flow_version if case.status == "open" else ""


def _events(flow: Flow, user: Principal, school: str) -> list[tuple[str, str, str | None]]:
    """The flow's manual events: (id, label, plan's words)."""
    return [(e.id, humanize(e.id), e.quote) for e in flow.definition.events]


def _flash(query: dict[str, str]) -> str | None:
    if "done" in query:
        return "Recorded. The case below shows what happens next."
    if "approved" in query:
        return "Letter approved. Send it, then record it as sent."
    if "event" in query:
        return "Recorded. The case below shows what happens next."
    if "undone" in query:
        return "Undone. The correction is in the case's story; the case is back as it was."
    return None


def _undo_offer(
    web: WebApp, user: Principal, school: str, pupil: str, case: CaseView | None
) -> UndoOffer | None:
    """The last action's undo, for someone who may write here (None: nothing to say)."""
    if case is None or not user.can_write(school):
        return None
    offer = web.service.undo.offer(school, pupil, user.username)
    if offer.action is not None and is_system_actor(offer.action.by):
        return None  # completed by the demo's ``auto``: no person to offer the undo to
    return offer if offer.acted else None


async def undo_action(request: Request) -> Response:
    user, _ = await checked_form(request)
    web = web_of(request)
    params = request.path_params
    address = client_address(request)

    def act() -> str:
        school, _ = readable_pupil(web, user, params["school"], params["pupil"])
        if not user.can_write(school):
            raise ForbiddenError("Your role can read this case but not change it.")
        note = AuditNote(user.username, "action_undone", ip=address)
        try:
            web.service.undo.undo_last(school, params["pupil"], user.username, audit=note)
        except ActionError as exc:
            raise ForbiddenError(f"This cannot be undone: {exc}") from exc
        return school

    school = await run_in_threadpool(act)
    return RedirectResponse(
        f"/schools/{school}/pupils/{params['pupil']}?undone=1", status_code=303
    )


async def record_event(request: Request) -> Response:
    user, form = await checked_form(request)
    web = web_of(request)
    params = request.path_params
    event = field(form, "event") or ""
    note = field(form, "note")
    address = client_address(request)

    def act() -> str:
        school, _ = readable_pupil(web, user, params["school"], params["pupil"])
        if not user.can_write(school):
            raise ForbiddenError("Your role can read this case but not change it.")
        flow = flow_of(web, school, _open_version(web, school, params["pupil"]))
        if event not in flow.event_ids():
            raise ForbiddenError("That is not something this school's plan records.")
        web.service.record_event(school, params["pupil"], event, by=user.username, note=note)
        detail = event if not is_safeguarding_name(event) else "a safeguarding record"
        web.staff.audit(
            user.username,
            "event_recorded",
            web.now(),
            school=school,
            pupil=params["pupil"],
            detail=detail,
            ip=address,
        )
        return school

    school = await run_in_threadpool(act)
    return RedirectResponse(f"/schools/{school}/pupils/{params['pupil']}?event=1", status_code=303)
