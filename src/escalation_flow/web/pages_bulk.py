"""Bulk complete and bulk approve over the worklist's filtered selection, of any size.

``GET /tasks/bulk?action=...&<filters>`` is the confirmation: how many tasks the filters
select, how many of those this person may act on and what will be recorded for each (grouped
by task and outcome), and how many are left alone and why. The form carries the filters and a
digest of the task ids it showed; ``POST`` selects again and acts only if the selection is the
one confirmed (a colleague who completed one in between sends the person back to a new
confirmation, never past it). Each task is recorded as a single action would be, with the same
role checks (``pages_tasks.task_for_action``, ``may_approve_letter``) and its own staff audit
entry; one refused or already recorded by someone else is counted, not fatal.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.access import Principal
from escalation_flow.errors import ActionError, ConflictError, NotFoundError
from escalation_flow.ports import AuditNote
from escalation_flow.web.auth import checked_form, require_user
from escalation_flow.web.filters import humanize
from escalation_flow.web.plan_words import task_definition
from escalation_flow.web.school_data import flow_of
from escalation_flow.web.security import client_address
from escalation_flow.web.task_query import TaskQuery
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of
from escalation_flow.web.work_rows import WorkRow, scope_rows, select

ACTIONS = {"complete": "Complete", "approve": "Approve the letters of"}


def routes() -> list[BaseRoute]:
    return [
        Route("/tasks/bulk", confirm_page, methods=["GET"]),
        Route("/tasks/bulk", act, methods=["POST"]),
    ]


@dataclass(frozen=True)
class Step:
    """One task of the selection and what the bulk action records for it."""

    row: WorkRow
    outcome: str  # complete: the outcome recorded; approve: ""


@dataclass(frozen=True)
class Plan:
    action: str
    query: TaskQuery
    selected: int  # tasks the filters select
    steps: list[Step]  # those this person will act on
    left: list[tuple[str, int]]  # (why, how many) for the rest
    groups: list[tuple[str, str, int]]  # (task, what is recorded, how many)

    @property
    def digest(self) -> str:
        ids = ",".join(str(s.row.view.id) for s in sorted(self.steps, key=lambda s: s.row.view.id))
        return hashlib.sha256(f"{self.action}:{ids}".encode()).hexdigest()


def plan(web: WebApp, user: Principal, action: str, query: TaskQuery) -> Plan:
    """What the bulk action would do to the selection, for this person (nothing is written)."""
    rows = select(scope_rows(web, user, web.today()), query)
    steps: list[Step] = []
    left: Counter[str] = Counter()
    # the same few answers for thousands of rows: one per school, role and year group
    why_not = lru_cache(maxsize=None)(partial(_why_not, user, action))
    outcome_of = lru_cache(maxsize=None)(partial(_outcome, web))
    for r in rows:
        v = r.view
        awaiting = v.letter_id is not None and v.approval and v.letter_status == "prepared"
        why = why_not(v.school, v.role, r.year_group or None, r.hidden, awaiting)
        if why:
            left[why] += 1
        else:
            outcome = outcome_of(v.school, r.case_version, v.task) if action == "complete" else ""
            steps.append(Step(r, outcome))
    groups = Counter(
        (s.row.title, _outcome_words(s.outcome) if action == "complete" else "letter approved")
        for s in steps
    )
    return Plan(
        action=action,
        query=query,
        selected=len(rows),
        steps=steps,
        left=sorted(left.items(), key=lambda kv: -kv[1]),
        groups=[(t, o, n) for (t, o), n in sorted(groups.items(), key=lambda kv: -kv[1])],
    )


def _why_not(
    user: Principal,
    action: str,
    school: str,
    role: str,
    year: str | None,
    hidden: bool,
    awaiting: bool,
) -> str | None:
    """Why the action leaves a task alone (None: it acts on it), as the single action's checks."""
    if hidden or not user.can_write(school) or not user.may_complete(school, role, year):
        return "not yours to record"
    if action == "approve":
        if not awaiting:
            return "no letter waiting for approval"
        if not user.may_approve_letter(school, role):
            return "its letter is approved by the attendance lead or headteacher"
        return None
    if awaiting:
        return "its letter is approved before it is sent (approve the letters first)"
    return None


def _outcome(web: WebApp, school: str, version: str, task: str) -> str:
    """The task's first outcome: the primary button on its card."""
    definition = task_definition(flow_of(web, school, version), task)
    return definition.outcomes[0] if definition and definition.outcomes else "done"


def _outcome_words(outcome: str) -> str:
    return {"done": "done", "sent": "sent"}.get(outcome, humanize(outcome).lower())


async def confirm_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    params = dict(request.query_params)
    action = params.get("action", "")
    if action not in ACTIONS:
        return RedirectResponse("/tasks", status_code=303)
    query = TaskQuery.parse(params)
    found = await run_in_threadpool(plan, web, user, action, query)
    return _confirmation(request, web, user, found, changed=False)


def _confirmation(
    request: Request, web: WebApp, user: Principal, found: Plan, *, changed: bool
) -> Response:
    context: dict[str, Any] = {
        "title": "Check before you confirm",
        "plan": found,
        "action_title": ACTIONS[found.action],
        "changed": changed,
        "filters": found.query.filters(),
        "back": found.query.link(),
        "user": user,
        "csrf": request.state.session.csrf_token,
        "nav": "tasks",
    }
    return web.templates.TemplateResponse(request, "bulk.html", context)


async def act(request: Request) -> Response:
    user, form = await checked_form(request)
    web = web_of(request)
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    action = params.get("action", "")
    if action not in ACTIONS:
        return RedirectResponse("/tasks", status_code=303)
    query = TaskQuery.parse(params)
    address = client_address(request)
    note = (params.get("note") or "").strip()[:2000] or None

    def run() -> Counter[str] | Plan:
        found = plan(web, user, action, query)
        if found.digest != params.get("digest") or not found.steps:
            return found
        return _carry_out(web, user, found, address, note)

    result = await run_in_threadpool(run)
    if isinstance(result, Plan):
        return _confirmation(request, web, user, result, changed=True)
    flash = urlencode({"bulk": action, **{k: str(v) for k, v in result.items()}})
    back = query.link()
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}{flash}", status_code=303)


def _carry_out(
    web: WebApp, user: Principal, found: Plan, address: str | None, note: str | None
) -> Counter[str]:
    """Each task as its single action would record it, one transaction each."""
    counts: Counter[str] = Counter()
    for step in found.steps:
        v = step.row.view
        try:
            if found.action == "complete":
                detail = f"task {v.id} {v.task}: {step.outcome} (bulk)"
                audit = AuditNote(user.username, "task_completed", detail, address)
                web.service.complete_task(
                    v.id, step.outcome, by=user.username, note=note, audit=audit
                )
            else:
                assert v.letter_id is not None
                detail = f"letter {v.letter_id} {v.template} (bulk)"
                audit = AuditNote(user.username, "letter_approved", detail, address)
                web.service.approve_letter(v.letter_id, by=user.username, audit=audit)
            counts["done"] += 1
        except (ConflictError, NotFoundError):
            counts["closed"] += 1  # recorded by someone else, or closed as its case moved on
        except (ActionError, ForbiddenError):
            counts["refused"] += 1
    return counts
