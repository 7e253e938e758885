"""Who is asking (``require_user``) and checked forms (``checked_form``, ``field``): what every
page that needs a member of staff uses; and the one way a session begins (``open_session``,
``signed_in``), whether by password or by single sign-on."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from escalation_flow.core.access import Principal
from escalation_flow.ports import StaffAccount, StaffSession
from escalation_flow.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    new_token,
    same_token,
    set_cookie,
    token_hash,
)
from escalation_flow.web.webapp import ForbiddenError, LoginRequiredError, WebApp, web_of

MAX_FORM_FIELD = 2000


async def require_user(request: Request) -> Principal:
    """The logged-in member of staff; ``LoginRequiredError`` sends the browser to the login page."""
    cached = getattr(request.state, "user", None)
    if isinstance(cached, Principal):
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequiredError()
    web = web_of(request)
    found = await run_in_threadpool(_live_user, web, token)
    if found is None:
        raise LoginRequiredError()
    session, user = found
    request.state.session = session
    request.state.user = user
    return user


def _live_user(web: WebApp, token: str) -> tuple[StaffSession, Principal] | None:
    staff = web.staff
    session = staff.live_session(token_hash(token), web.now())
    if session is None:
        return None
    record = staff.by_id(session.staff_id)
    if record is None or not record.active:
        return None
    return session, record.principal()


async def checked_form(request: Request) -> tuple[Principal, FormData]:
    """The user and the posted form, refused (403) without the session's CSRF token."""
    user = await require_user(request)
    form = await request.form(max_fields=500)
    session: StaffSession = request.state.session
    given = form.get("csrf_token")
    if not isinstance(given, str) or not same_token(given, session.csrf_token):
        raise ForbiddenError(
            "This form has expired or did not come from this site. Go back, reload "
            "the page and try again."
        )
    return user, form


def field(form: FormData, name: str) -> str | None:
    """A text field, trimmed and bounded; None when absent or empty."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()[:MAX_FORM_FIELD]
    return value or None


def open_session(web: WebApp, account: StaffAccount, address: str) -> tuple[str, int]:
    """A new session for ``account``: its cookie token and lifetime in seconds (blocking)."""
    token = new_token()
    now = web.now()
    hours = web.settings.session_hours
    web.staff.create_session(
        account.id, token_hash(token), new_token(), now, now + timedelta(hours=hours), address
    )
    return token, int(hours * 3600)


def signed_in(request: Request, target: str, token: str, seconds: int) -> Response:
    """The answer that starts a session in the browser: its cookie, and on to ``target``."""
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, web_of(request).settings, SESSION_COOKIE, token, seconds)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def safe_next(target: str | None) -> str:
    """Only paths on this site: a login link must not send anyone elsewhere."""
    if not target:
        return "/tasks"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/tasks"
    if "\\" in target:
        return "/tasks"
    return target
