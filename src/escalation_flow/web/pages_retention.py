"""The data protection officer's page: ``/retention``: what the trust's retention policy makes
due for erasure today, what is kept past its term and why (open cases, legal holds, penalty
notices outstanding), the standing holds, and every run recorded.

Only a data protection officer reads it (of a school: that school's rows; of the trust: all).
Erasing is the command line's (``escalation-flow retention apply --by``), as one recorded run.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from escalation_flow.service.retention import retention_of
from escalation_flow.web.auth import require_user
from escalation_flow.web.webapp import ForbiddenError, web_of


def routes() -> list[BaseRoute]:
    return [Route("/retention", retention_page)]


@dataclass(frozen=True)
class SchoolDue:
    school: str
    marks: int
    cases: int
    pupils: int


async def retention_page(request: Request) -> Response:
    user = await require_user(request)
    if not any(user.is_data_protection_officer(s) for s in web_of(request).service.schools()):
        raise ForbiddenError("Only a data protection officer reads the retention page.")
    web = web_of(request)

    def build() -> dict[str, object]:
        desk = retention_of(web.service)
        if desk is None or web.service.trust.retention is None:
            return {"policy": None}
        mine = {s for s in web.service.schools() if user.is_data_protection_officer(s)}
        plan = desk.due(web.today())
        due = [SchoolDue(s, n["marks"], n["cases"], n["pupils"])
               for s, n in plan.by_school().items() if s in mine]  # fmt: skip
        return {
            "policy": plan.policy,
            "plan": plan,
            "due": due,
            "kept": [k for k in plan.kept if k.school in mine],
            "holds": [h for h in desk.holds() if h.school in mine],
            "runs": desk.runs() if user.is_data_protection_officer() else [],
            "trust_file": str(web.service.trust.path),
        }

    context = await run_in_threadpool(build)
    context.update(
        title="Retention", user=user, csrf=request.state.session.csrf_token, nav="retention"
    )
    return web.templates.TemplateResponse(request, "retention.html", context)
