"""My tasks: what is due to me (overdue first, today, this week, later); complete, acknowledge."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.access import Grant, Principal, role_title
from escalation_flow.core.marks import Roster
from escalation_flow.errors import NotFoundError
from escalation_flow.ports import AuditNote
from escalation_flow.service.views import TaskView
from escalation_flow.web.auth import checked_form, field, require_user
from escalation_flow.web.filters import humanize
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.safeguarding import is_safeguarding_task, safeguarding_states
from escalation_flow.web.school_data import flow_of, roster_of, school_name
from escalation_flow.web.security import client_address
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of
from escalation_flow.web.worklist import TaskItem, pupil_name, task_item

MAX_BULK = 200


def routes() -> list[BaseRoute]:
    return [
        Route("/tasks", tasks_page, methods=["GET"]),
        Route("/tasks/acknowledge", acknowledge, methods=["POST"]),
        Route("/tasks/{task_id:int}/complete", complete, methods=["POST"]),
    ]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    empty: str
    tasks: list[TaskItem]


async def tasks_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    context = await run_in_threadpool(_tasks_context, web, user, dict(request.query_params))
    context.update(user=user, csrf=request.state.session.csrf_token, nav="tasks")
    return web.templates.TemplateResponse(request, "tasks.html", context)


def my_tasks(web: WebApp, user: Principal) -> list[TaskItem]:
    """Every open task on this person's worklist, in the service's order (most overdue first)."""
    today = web.today()
    items: list[TaskItem] = []
    views_by_school: list[tuple[str, list[TaskView]]] = []
    for school in user.readable_schools(web.service.trust.schools):
        if not user.task_roles(school):
            continue
        roster = roster_of(web, school)
        mine = [
            v
            for v in web.service.tasks(school=school)
            if user.is_mine(school, v.role, _year(roster, v.pupil))
        ]
        views_by_school.append((school, mine))
    acks = web.staff.acks(v.id for _, views in views_by_school for v in views)
    for school, views in views_by_school:
        flow = flow_of(web, school)
        roster = roster_of(web, school)
        cases = {c.pupil: c for c in web.reads.open_cases(school)}
        hidden = frozenset() if user.sees_safeguarding(school) else safeguarding_states(flow)
        name = school_name(web, school)
        for v in views:
            case = cases.get(v.pupil)
            # a case's task is told in the words of the flow version the case runs under
            version = case.flow_version if case is not None else ""
            task_flow = flow_of(web, school, version) if version != flow.version else flow
            if case is None:
                label = "no open case"
            elif case.state in hidden:
                label = "restricted stage"
            else:
                label = f"case at {stage_name(flow, case.stage)}"
            items.append(
                task_item(
                    v,
                    user=user,
                    flow=task_flow,
                    roster=roster,
                    school_name=name,
                    today=today,
                    stage_label=label,
                    ack=acks.get(v.id),
                )
            )
    items.sort(key=lambda t: (t.due, t.school, t.pupil_name, t.id))
    return items


def _tasks_context(web: WebApp, user: Principal, query: dict[str, str]) -> dict[str, Any]:
    everything = my_tasks(web, user)
    kinds = Counter(i.kind for i in everything)
    kind = query.get("kind") if query.get("kind") in kinds else None
    items = [i for i in everything if kind is None or i.kind == kind]
    by_bucket: dict[str, list[TaskItem]] = {"overdue": [], "today": [], "week": [], "later": []}
    for item in items:
        by_bucket[item.bucket].append(item)
    sections = [
        Section("overdue", "Overdue", "Nothing overdue.", by_bucket["overdue"]),
        Section("today", "Due today", "Nothing else is due today.", by_bucket["today"]),
        Section("week", "Due later this week", "Nothing more this week.", by_bucket["week"]),
        Section("later", "Coming up", "Nothing further ahead yet.", by_bucket["later"]),
    ]
    roles = sorted(
        {r for s in user.readable_schools(web.service.trust.schools) for r in user.task_roles(s)}
    )
    return {
        "title": "Your tasks",
        "today": web.today(),
        "sections": sections,
        "roles_text": ", ".join(role_title(r).lower() for r in roles),
        "scope": _scope(web, user),
        "flash": _flash(web, user, query),
        "can_ack_any": any(i.can_complete for i in items),
        "show_school": len(user.readable_schools(web.service.trust.schools)) > 1,
        "back": f"/tasks?kind={kind}" if kind else "/tasks",
        "kind": kind,
        "kinds": [
            (k, _KIND_NAMES.get(k, humanize(k).lower() + "s"), n) for k, n in sorted(kinds.items())
        ],
        "total": len(everything),
    }


_KIND_NAMES = {
    "call": "calls",
    "letter": "letters",
    "meeting": "meetings",
    "discussion": "discussions",
    "referral": "referrals",
    "review": "reviews",
    "plan": "plans",
    "visit": "visits",
    "legal": "legal steps",
    "award": "awards",
    "other": "other tasks",
}


def _scope(web: WebApp, user: Principal) -> str:
    return "; ".join(grant_text(web, g) for g in user.grants)


def grant_text(web: WebApp, grant: Grant) -> str:
    """``Attendance lead, Synthetic School 01``: a grant in words, with the school's name."""
    if grant.school is None:
        return grant.describe()
    years = f" (Years {', '.join(sorted(grant.year_groups))})" if grant.year_groups else ""
    return f"{role_title(grant.role)}, {school_name(web, grant.school)}{years}"


def _flash(web: WebApp, user: Principal, query: dict[str, str]) -> str | None:
    if "acked" in query:
        n = int(query["acked"]) if query["acked"].isdigit() else 0
        return (
            f"Acknowledged {n} task{'s' if n != 1 else ''}." if n else "Nothing new to acknowledge."
        )
    done = query.get("done", "")
    if not done.isdigit():
        return None
    try:
        view = web.service.task(int(done))
    except NotFoundError:
        return None
    if not user.can_read_pupil(view.school, _year(roster_of(web, view.school), view.pupil)):
        return None
    who = pupil_name(roster_of(web, view.school).pupils.get(view.pupil), view.pupil)
    outcome = f": {humanize(view.outcome)}" if view.outcome else ""
    return f"Recorded {humanize(view.template or view.task).lower()} for {who}{outcome}."


def _year(roster: Roster, pupil: str) -> str | None:
    record = roster.pupils.get(pupil)
    return record.year_group if record else None


# -- actions ------------------------------------------------------------------------------------


def task_for_action(web: WebApp, user: Principal, task_id: int) -> TaskView:
    """The task if this person may record it; 404 if they may not even read it, 403 if read-only."""
    try:
        view = web.service.task(task_id)
    except NotFoundError:
        raise NotFoundError(f"no task {task_id}") from None
    year = _year(roster_of(web, view.school), view.pupil)
    if not user.can_read_pupil(view.school, year):
        raise NotFoundError(f"no task {task_id}")
    if not user.can_write(view.school) or not user.may_complete(view.school, view.role, year):
        raise ForbiddenError(
            f"This task is for {role_title(view.role).lower()} to record, not you."
        )
    if is_safeguarding_task(view.role, view.task) and not user.sees_safeguarding(view.school):
        raise ForbiddenError("Only the designated safeguarding lead can record safeguarding tasks.")
    return view


async def complete(request: Request) -> Response:
    user, form = await checked_form(request)
    web = web_of(request)
    task_id = int(request.path_params["task_id"])
    outcome = field(form, "outcome")
    note = field(form, "note")
    address = client_address(request)

    def act() -> None:
        view = task_for_action(web, user, task_id)
        # the audit entry is written in the transaction that completes the task
        detail = f"task {task_id} {view.task}" + (f": {outcome}" if outcome else "")
        note_of = AuditNote(user.username, "task_completed", detail, address)
        web.service.complete_task(task_id, outcome, by=user.username, note=note, audit=note_of)

    await run_in_threadpool(act)
    back = _back(field(form, "back"))
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}done={task_id}", status_code=303)


async def acknowledge(request: Request) -> Response:
    user, form = await checked_form(request)
    web = web_of(request)
    ids = [int(v) for v in form.getlist("task_id") if isinstance(v, str) and v.isdigit()]
    note = field(form, "note")
    address = client_address(request)

    def act() -> int:
        if len(ids) > MAX_BULK:
            raise ForbiddenError(f"Acknowledge at most {MAX_BULK} tasks at once.")
        views = [task_for_action(web, user, i) for i in ids]
        new = web.staff.acknowledge([v.id for v in views], user.staff_id, note, web.now())
        for v in views:
            if v.id in new:
                web.staff.audit(
                    user.username,
                    "task_acknowledged",
                    web.now(),
                    school=v.school,
                    pupil=v.pupil,
                    detail=f"task {v.id} {v.task}",
                    ip=address,
                )
        return len(new)

    count = await run_in_threadpool(act)
    return RedirectResponse(f"/tasks?acked={count}", status_code=303)


def _back(target: str | None) -> str:
    """Back to the worklist or a case page of this site, nothing else."""
    if target and target.startswith(("/tasks", "/schools/", "/letters/")) and "//" not in target:
        return target.split("#")[0]
    return "/tasks"
