"""Logging in and out.

Every login, good or bad, and every logout is written to the audit log; every try also to
``login_attempts``, which ``LoginPolicy`` (``web/security.py``) weighs to slow guessing without
ever locking anyone out: a try that must wait gets 429, the wait in words and ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.web.auth import checked_form, field
from escalation_flow.web.passwords import verify_password
from escalation_flow.web.security import (
    LOGIN_COOKIE,
    LOGIN_FORM_MAX_AGE,
    SESSION_COOKIE,
    LoginPolicy,
    client_address,
    new_token,
    set_cookie,
    token_hash,
    wait_message,
)
from escalation_flow.web.webapp import ForbiddenError, WebApp, web_of


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


async def login_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    web = web_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE) or new_token()
    context = {
        "title": "Log in",
        "user": None,
        "csrf": None,
        "login_token": web.login_forms.issue(nonce),
        "next": _safe_next(request.query_params.get("next")),
        "error": error,
    }
    response = web.templates.TemplateResponse(request, "login.html", context, status_code=status)
    set_cookie(response, request, web.settings, LOGIN_COOKIE, nonce, LOGIN_FORM_MAX_AGE)
    return response


async def login_submit(request: Request) -> Response:
    web = web_of(request)
    form = await request.form(max_fields=10)
    token = form.get("login_token")
    if not web.login_forms.check(
        token if isinstance(token, str) else None, request.cookies.get(LOGIN_COOKIE)
    ):
        raise ForbiddenError("The login form had expired. Reload the page and log in again.")
    username = (field(form, "username") or "")[:64]
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    address = client_address(request)
    outcome = await run_in_threadpool(_try_login, web, username, password, address)
    if isinstance(outcome, timedelta):
        page = await login_page(request, error=wait_message(outcome), status=429)
        page.headers["Retry-After"] = str(max(1, math.ceil(outcome.total_seconds())))
        return page
    if isinstance(outcome, str):
        return await login_page(request, error=outcome, status=401)
    token, expires = outcome
    target = _safe_next(field(form, "next"))
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, web.settings, SESSION_COOKIE, token, expires)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


#: Tries for one (account, address) are taken one at a time: checked in parallel, thirty wrong
#: passwords would all pass the back-off's look at the history before the first was recorded.
#: Striped, so the locks do not grow with the addresses seen.
_TRIES = tuple(threading.Lock() for _ in range(256))


def _try_login(
    web: WebApp, username: str, password: str, address: str
) -> tuple[str, int] | timedelta | str:
    """A new session token and its lifetime in seconds, how long to wait before trying again,
    or the message to show."""
    with _TRIES[hash((username.casefold(), address)) % len(_TRIES)]:
        return _one_try(web, username, password, address)


def _one_try(
    web: WebApp, username: str, password: str, address: str
) -> tuple[str, int] | timedelta | str:
    staff = web.staff
    now = web.now()
    policy = LoginPolicy(web.settings)
    history = staff.login_history(
        username, address, since=policy.pair_since(now), address_since=policy.address_since(now)
    )
    wait = policy.wait(history, now)
    if wait > timedelta(0):
        # the password is not checked and the try is not counted: waiting is not lengthened
        staff.audit(username or "?", "login_refused_rate_limit", now, ip=address)
        return wait
    record = staff.by_username(username) if username else None
    good = verify_password(record.password_hash if record else None, password)
    if record is None or not good or not record.active:
        staff.record_attempt(username, address, False, now)
        staff.audit(username or "?", "login_failed", now, ip=address)
        return "That username and password do not match. Check them and try again."
    staff.record_attempt(username, address, True, now)
    token = new_token()
    hours = web.settings.session_hours
    staff.create_session(
        record.id, token_hash(token), new_token(), now, now + timedelta(hours=hours), address
    )
    staff.audit(username, "login", now, ip=address)
    return token, int(hours * 3600)


async def logout(request: Request) -> Response:
    user, _ = await checked_form(request)
    web = web_of(request)
    token = request.cookies.get(SESSION_COOKIE, "")

    def end() -> None:
        now = web.now()
        web.staff.end_session(token_hash(token), now)
        web.staff.audit(user.username, "logout", now, ip=client_address(request))

    await run_in_threadpool(end)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _safe_next(target: str | None) -> str:
    """Only paths on this site: a login link must not send anyone elsewhere."""
    if not target:
        return "/tasks"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/tasks"
    if "\\" in target:
        return "/tasks"
    return target
