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
        for school in schools:
            register = register_of(web, school, web.today())
            for v in service.penalty_notices.notices(school):
                record = register.pupil(v.draft.pupil)
                if user.can_read_pupil(school, record.year_group or None):
                    rows.append(_row(v, " ".join(filter(None, (record.forename, record.surname)))))
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


def _row(v: NoticeVersion, name: str) -> NoticeRow:
    d = v.draft
    return NoticeRow(
        notice=v.notice,
        kind="Notice to improve" if d.kind is Kind.NOTICE_TO_IMPROVE else "Penalty notice",
        school=d.school,
        pupil=d.pupil,
        name=name or d.pupil,
        parent=d.parent,
        offence=d.offence.value.replace("_", " ").capitalize(),
        sessions=", ".join(f"{s} ({c})" for s, c in zip(d.sessions, v.codes, strict=True)),
        issued_on=d.issued_on.isoformat(),
        status=v.status.value.capitalize(),
        amounts=v.amounts.words() if v.amounts else "",
        recorded=f"{v.recorded_by}, {v.recorded_at:%Y-%m-%d %H:%M} UTC",
    )
