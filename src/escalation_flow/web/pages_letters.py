"""A letter: read it, approve it (a named person), download it, record it as sent.

Nothing is ever sent from here: staff print or send the letter themselves and record that they
did (the letter task's completion with the outcome ``sent``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.core.access import Principal
from escalation_flow.core.delivery import NEEDS_READDRESSING
from escalation_flow.core.marks import PupilRecord
from escalation_flow.errors import NotFoundError
from escalation_flow.ports import AuditNote
from escalation_flow.service.letter_readdress import readdress_desk
from escalation_flow.service.views import LetterView, TaskView
from escalation_flow.web.auth import checked_form, require_user
from escalation_flow.web.letter_pages import letter_images
from escalation_flow.web.plan_words import stage_name
from escalation_flow.web.readable import readable_pupil
from escalation_flow.web.safeguarding import is_safeguarding_task
from escalation_flow.web.school_data import flow_of, roster_of, school_name
from escalation_flow.web.security import LETTER_CSP, client_address
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of
from escalation_flow.web.worklist import pupil_name, task_item


def routes() -> list[BaseRoute]:
    return [
        Route("/letters/{letter_id:int}", letter_page, methods=["GET"]),
        Route("/letters/{letter_id:int}/view", letter_html, methods=["GET"]),
        Route("/letters/{letter_id:int}/pdf", letter_pdf, methods=["GET"]),
        Route("/letters/{letter_id:int}/page-{page:int}.png", letter_page_png, methods=["GET"]),
        Route("/letters/{letter_id:int}/approve", approve, methods=["POST"]),
        Route("/letters/{letter_id:int}/readdress", readdress, methods=["POST"]),
    ]


def readable_letter(
    web: WebApp, user: Principal, letter_id: int
) -> tuple[LetterView, TaskView, PupilRecord]:
    """(letter, its task, the pupil's record) if this person may read it; else NotFoundError."""
    try:
        letter = web.service.letter(letter_id)
        task = web.service.task(letter.task_id)
    except NotFoundError:
        raise NotFoundError(f"no letter {letter_id}") from None
    _, record = readable_pupil(web, user, letter.school, letter.pupil)
    if is_safeguarding_task(task.role, task.task) and not user.sees_safeguarding(letter.school):
        raise NotFoundError(f"no letter {letter_id}")
    return letter, task, record


async def letter_page(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    letter_id = int(request.path_params["letter_id"])
    flash = None
    if "approved" in request.query_params:
        flash = "Approved. Print or send the letter, then record it as sent."
    elif "readdressed" in request.query_params:
        flash = (
            "Prepared again from the contacts as known now: the held copies wait in the outbox "
            "again, addressed as the contacts now say. Nothing was sent."
        )
    elif "done" in request.query_params:
        flash = "Recorded. Thank you: the case moves on to its next step."

    def build() -> dict[str, Any]:
        letter, task, record = readable_letter(web, user, letter_id)
        flow = flow_of(web, letter.school)
        open_task = None
        if task.status == "open":
            case = web.service.case(letter.school, letter.pupil)
            open_task = task_item(
                task,
                user=user,
                flow=flow,
                roster=roster_of(web, letter.school),
                school_name=school_name(web, letter.school),
                today=web.today(),
                stage_label=stage_name(flow, case.stage),
                ack=None,
            )
        return {
            "title": "Letter",
            "letter": letter,
            "task": task,
            "t": open_task,
            "name": pupil_name(record, letter.pupil),
            "school_name": school_name(web, letter.school),
            "deliveries": (deliveries := web.service.outbox.deliveries(letter_id)),
            "may_approve": (
                may := user.can_write(letter.school)
                and user.may_approve_letter(letter.school, task.role)
            ),
            # a copy held because its household's contacts changed: a leader prepares it again
            "may_readdress": may and any(d.status == NEEDS_READDRESSING for d in deliveries),
            "flash": flash,
            "pages": letter_images(web, letter_id, letter.html),
            "back": f"/letters/{letter_id}",
            "show_school": False,
            "bulk": False,
        }

    context = await run_in_threadpool(build)
    context.update(user=user, csrf=request.state.session.csrf_token, nav="tasks")
    return web.templates.TemplateResponse(request, "letter.html", context)


async def letter_html(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    letter_id = int(request.path_params["letter_id"])
    letter, _, _ = await run_in_threadpool(readable_letter, web, user, letter_id)
    return HTMLResponse(
        letter.html,
        headers={"Content-Security-Policy": LETTER_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


async def letter_page_png(request: Request) -> Response:
    """One printed page of the letter, as a picture (``web.letter_pages``)."""
    user = await require_user(request)
    web = web_of(request)
    letter_id, page = int(request.path_params["letter_id"]), int(request.path_params["page"])

    def build() -> bytes:
        letter, _, _ = readable_letter(web, user, letter_id)
        images = letter_images(web, letter_id, letter.html) or []
        if not 1 <= page <= len(images):
            raise NotFoundError(f"letter {letter_id} has no page {page}")
        return images[page - 1]

    data = await run_in_threadpool(build)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


async def letter_pdf(request: Request) -> Response:
    user = await require_user(request)
    web = web_of(request)
    letter_id = int(request.path_params["letter_id"])

    def build() -> tuple[bytes, str]:
        letter, _, _ = readable_letter(web, user, letter_id)
        return web.service.letter_pdf(letter_id), f"{letter.template}-{letter.pupil}.pdf"

    data, name = await run_in_threadpool(build)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


async def approve(request: Request) -> Response:
    user, _ = await checked_form(request)
    web = web_of(request)
    letter_id = int(request.path_params["letter_id"])
    address = client_address(request)

    def act() -> None:
        letter, task, _ = readable_letter(web, user, letter_id)
        if not user.can_write(letter.school) or not user.may_approve_letter(
            letter.school, task.role
        ):
            raise ForbiddenError("Letters are approved by the attendance lead or the headteacher.")
        # the audit entry is written in the transaction that approves the letter
        detail = f"letter {letter_id} {letter.template}"
        note = AuditNote(user.username, "letter_approved", detail, address)
        web.service.approve_letter(letter_id, by=user.username, audit=note)

    await run_in_threadpool(act)
    return RedirectResponse(f"/letters/{letter_id}?approved=1", status_code=303)


async def readdress(request: Request) -> Response:
    """Prepare a held letter again from the contacts as known now (``letters readdress``)."""
    user, _ = await checked_form(request)
    web = web_of(request)
    letter_id = int(request.path_params["letter_id"])

    def act() -> None:
        letter, task, _ = readable_letter(web, user, letter_id)
        if not user.can_write(letter.school) or not user.may_approve_letter(
            letter.school, task.role
        ):
            raise ForbiddenError(
                "A held letter is prepared again by the attendance lead or the headteacher."
            )
        readdress_desk(web.service).readdress(letter_id, user.username)

    await run_in_threadpool(act)
    return RedirectResponse(f"/letters/{letter_id}?readdressed=1", status_code=303)
