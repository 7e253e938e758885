"""The penalty-notice register's page: ``/penalty-notices`` (``?school=`` to filter).

Lists each notice's latest version at the schools the member of staff may read, and only
pupils they may read there (a class teacher: their year groups). Recording and changing a
notice is the command line's (``escalation-flow penalty-notices``), where the rules refuse
what the law does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.notice_story import Parent
from escalation_flow.core.penalty_notices import Kind, NoticeVersion
from escalation_flow.web.auth import require_user
from escalation_flow.web.readable import readable_school
from escalation_flow.web.school_data import register_of
from escalation_flow.web.webapp import web_of


def routes() -> list[BaseRoute]:
    return [Route("/penalty-notices", register_page)]


@dataclass(frozen=True)
class NoticeRow:
    notice: int
    kind: str
    school: str
    pupil: str
    name: str
    parent: str
    offence: str
    sessions: str
    issued_on: str
    status: str
    amounts: str
    recorded: str


async def register_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    asked = request.query_params.get("school") or None

    def build() -> dict[str, object]:
        service = web.service
        schools = (
            [readable_school(user, web, asked)]
            if asked
            else user.readable_schools(service.schools())
        )
        rows: list[NoticeRow] = []
        desk = service.penalty_notices
        for school in schools:
            register = register_of(web, school, web.today())
            parents = desk.parents(school)
            # as recorded now, not cut at the pages' (possibly shifted) clock; issued by today
            for v in desk.as_recorded(school, issued_by=web.today()):
                record = register.pupil(v.draft.pupil)
                if user.can_read_pupil(school, record.year_group or None):
                    name = " ".join(filter(None, (record.forename, record.surname)))
                    rows.append(_row(v, name, parents.get((v.draft.pupil, v.draft.parent))))
        return {
            "rows": rows,
            "schools": user.readable_schools(service.schools()),
            "asked": asked,
        }

    context = await run_in_threadpool(build)
    context.update(
        title="Penalty notices",
        user=user,
        csrf=request.state.session.csrf_token,
        nav="penalty-notices",
    )
    return web.templates.TemplateResponse(request, "penalty_notices.html", context)


def _parent(v: NoticeVersion, parent: Parent | None) -> str:
    """``Amy Khan (mother)``; a contact id the contacts no longer hold, as itself."""
    if parent is None:
        return f"contact {v.draft.parent}"
    return f"{parent.name} ({parent.relationship})" if parent.relationship else parent.name


def _row(v: NoticeVersion, name: str, parent: Parent | None) -> NoticeRow:
    d = v.draft
    return NoticeRow(
        notice=v.notice,
        kind="Notice to improve" if d.kind is Kind.NOTICE_TO_IMPROVE else "Penalty notice",
        school=d.school,
        pupil=d.pupil,
        name=name or d.pupil,
        parent=_parent(v, parent),
        offence=d.offence.value.replace("_", " ").capitalize(),
        sessions=", ".join(f"{s} ({c})" for s, c in zip(d.sessions, v.codes, strict=True)),
        issued_on=d.issued_on.isoformat(),
        status=v.status.value.capitalize(),
        amounts=v.amounts.words() if v.amounts else "",
        recorded=f"{v.recorded_by}, {v.recorded_at:%Y-%m-%d %H:%M} UTC",
    )
