"""Your tasks: what this person may record across their schools (overdue first, today, this
week, later), filtered, sorted and paged by the query string (``task_query``); complete and
acknowledge one or a ticked few (bulk over a whole selection: ``pages_bulk``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

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
from escalation_flow.web.exports import Table, download, export_format
from escalation_flow.web.filters import humanize
from escalation_flow.web.safeguarding import is_safeguarding_task
from escalation_flow.web.school_data import flow_of, roster_of, school_name
from escalation_flow.web.security import client_address
from escalation_flow.web.task_query import PAGE_SIZES, SORTS, TaskQuery
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of
from escalation_flow.web.work_rows import WorkRow, scope, scope_rows, select, work_page
from escalation_flow.web.worklist import TaskItem, listed_item, pupil_name

MAX_BULK = 200


def routes() -> list[BaseRoute]:
    return [
        Route("/tasks", tasks_page, methods=["GET"]),
        Route("/tasks/export.{fmt}", export_tasks, methods=["GET"]),
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


def page_items(web: WebApp, user: Principal, rows: list[WorkRow]) -> list[TaskItem]:
    """The page's rows as full task cards (the plan's words, buttons, acknowledgements)."""
    today = web.today()
    acks = web.staff.acks(r.view.id for r in rows)
    stamp = web.reads.import_stamp()
    items: list[TaskItem] = []
    for r in rows:
        school = r.view.school
        # a case's task is told in the words of the flow version the case runs under
        flow = flow_of(web, school, r.case_version)
        items.append(
            listed_item(
                r.view,
                user=user,
                flow=flow,
                # the row carries its pupil's name and year group: only a school's duty,
                # naming the pupils it covers, reads the school's roster
                pupil=(r.pupil_name, r.year_group),
                name_of=partial(_covered_name, web, school, stamp),
                school_name=r.school_name,
                today=today,
                stage_label=r.stage_label,
                ack=acks.get(r.view.id),
            )
        )
    return items


def _covered_name(web: WebApp, school: str, stamp: int, pupil: str) -> str:
    return pupil_name(roster_of(web, school, stamp).pupils.get(pupil), pupil)


def _tasks_context(web: WebApp, user: Principal, params: dict[str, str]) -> dict[str, Any]:
    query = TaskQuery.parse(params)
    page = work_page(scope(web, user, web.today()), query)
    items = page_items(web, user, page.rows)
    grouped = query.sort == "due" and not query.desc
    if grouped:
        by_bucket: dict[str, list[TaskItem]] = {"overdue": [], "today": [], "week": [], "later": []}
        for item in items:
            by_bucket[item.bucket].append(item)
        sections = [
            Section("overdue", "Overdue", "Nothing overdue.", by_bucket["overdue"]),
            Section("today", "Due today", "Nothing else is due today.", by_bucket["today"]),
            Section("week", "Due later this week", "Nothing more this week.", by_bucket["week"]),
            Section("later", "Coming up", "Nothing further ahead yet.", by_bucket["later"]),
        ]
        if page.pages > 1:  # a page of a long list: only the headings it has cards under
            sections = [s for s in sections if s.tasks]
    else:
        title = f"Sorted by {SORTS[query.sort].lower()}" + (", last first" if query.desc else "")
        sections = [Section("sorted", title, "No tasks match.", items)]
    roles = sorted(
        {r for s in user.readable_schools(web.service.trust.schools) for r in user.task_roles(s)}
    )
    facets = page.facets
    return {
        "title": "Your tasks",
        "today": web.today(),
        "sections": sections,
        "roles_text": ", ".join(role_title(r).lower() for r in roles),
        "scope": _scope(web, user),
        "flash": _flash(web, user, params),
        "can_ack_any": any(i.can_complete for i in items),
        "show_school": len(facets.schools) > 1
        or len(user.readable_schools(web.service.trust.schools)) > 1,
        "back": query.link(page=page.page) if query.params() else "/tasks",
        "q": query,
        "work": page,
        "facets": facets,
        "kind_names": {k: _KIND_NAMES.get(k, humanize(k).lower() + "s") for k, _ in facets.kinds},
        "sorts": SORTS,
        "page_sizes": PAGE_SIZES,
        "filters_query": urlencode(query.filters()),
        # a download holds every page, in the order the page shows
        "export_query": urlencode(
            {k: v for k, v in query.params().items() if k not in ("page", "size")}
        ),
        "total": facets.total,
    }


_EXPORT_HEADER = (
    "Task id", "School", "Pupil id", "Pupil", "Year group", "Task", "Role", "Kind", "Due",
    "School days overdue", "Stage", "Letter",
)  # fmt: skip


async def export_tasks(request: Request) -> Response:
    """The worklist's selection (every page of it, the filters of the query) as CSV or Excel."""
    user = await require_user(request)
    web = web_of(request)
    fmt = export_format(request)
    query = TaskQuery.parse(dict(request.query_params))

    def build() -> Response:
        today = web.today()
        rows = select(scope_rows(web, user, today), query)
        stamp = web.reads.import_stamp()
        table = Table(
            name=f"tasks-{today.isoformat()}",
            title="Tasks",
            header=_EXPORT_HEADER,
            rows=[_export_row(r, r.view, stamp, web) for r in rows],
        )
        return download(
            request, web, user, table, fmt, what="worklist", filters=urlencode(query.filters())
        )

    return await run_in_threadpool(build)


def _pupils_of(web: WebApp, r: WorkRow, v: TaskView, stamp: int) -> tuple[str, str]:
    """The row's pupil as (id, name); for a school-level duty (no pupil of its own), every pupil
    it covers, as its card lists them, joined by "; " in the same order in both columns. A
    safeguarding duty this viewer may not see names no one (its card is a bare title)."""
    if v.pupil:
        return v.pupil, r.pupil_name
    if r.hidden or not v.covers:
        return "", ""
    roster = roster_of(web, v.school, stamp)
    names = [pupil_name(roster.pupils.get(p), p) for p in v.covers]
    return "; ".join(v.covers), "; ".join(names)


def _export_row(r: WorkRow, v: TaskView, stamp: int, web: WebApp) -> tuple[object, ...]:
    pupil = _pupils_of(web, r, v, stamp)
    letter = "" if r.hidden or v.letter_status is None else v.letter_status
    return (
        v.id, r.school_name, *pupil, r.year_group, r.title, role_title(v.role), v.kind, v.due,
        v.overdue_days, r.stage_label, letter,
    )  # fmt: skip


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


def _bulk_flash(query: dict[str, str]) -> str | None:
    """What a bulk action did, from the counts it sent back."""
    if query.get("bulk") not in ("complete", "approve"):
        return None

    def count(key: str) -> int:
        value = query.get(key, "")
        return int(value) if value.isdigit() else 0

    done = count("done")
    what = "Completed" if query["bulk"] == "complete" else "Approved the letters of"
    parts = [f"{what} {done} task{'s' if done != 1 else ''}."]
    if count("closed"):
        parts.append(
            f"{count('closed')} were no longer open (recorded by someone else, or closed as "
            "the case moved on)."
        )
    if count("refused"):
        parts.append(f"{count('refused')} could not be recorded (open one to see why).")
    return " ".join(parts)


def _flash(web: WebApp, user: Principal, query: dict[str, str]) -> str | None:
    bulk = _bulk_flash(query)
    if bulk:
        return bulk
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
