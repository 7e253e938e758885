"""Logging in and out: with a password, or through the trust's identity provider (single sign-on,
``web/oidc_flow.py``), or both; ``password_login`` off leaves only the second.

Every login, good or bad, and every logout is written to the audit log; every password try also
to ``login_attempts``, which ``LoginPolicy`` (``web/security.py``) weighs to slow guessing
without ever locking anyone out: a try that must wait gets 429, the wait in words and
``Retry-After``.
"""

from __future__ import annotations

import math
import threading
from datetime import timedelta

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from escalation_flow.errors import SignInError, SignInProviderDownError
from escalation_flow.web import oidc_flow
from escalation_flow.web.auth import checked_form, field, open_session, safe_next, signed_in
from escalation_flow.web.oidc_config import SignInProvider
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
from escalation_flow.web.webapp import ForbiddenError, WebApp, error_page, web_of

log = structlog.get_logger(__name__)


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/login/sso", sso_start, methods=["GET"]),
        Route(oidc_flow.CALLBACK_PATH, sso_callback, methods=["GET"]),
    ]


async def login_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    web = web_of(request)
    provider = oidc_flow.provider_of(web)
    nonce = request.cookies.get(LOGIN_COOKIE) or new_token()
    context = {
        "title": "Log in",
        "user": None,
        "csrf": None,
        "login_token": web.login_forms.issue(nonce),
        "next": safe_next(request.query_params.get("next")),
        "error": error,
        "sso": provider.label if provider else None,
        "password_login": web.settings.password_login,
    }
    response = web.templates.TemplateResponse(request, "login.html", context, status_code=status)
    set_cookie(response, request, web.settings, LOGIN_COOKIE, nonce, LOGIN_FORM_MAX_AGE)
    return response


async def login_submit(request: Request) -> Response:
    web = web_of(request)
    if not web.settings.password_login:
        address = client_address(request)
        await run_in_threadpool(
            web.staff.audit, "?", "login_refused_passwords_off", web.now(), ip=address
        )
        raise ForbiddenError("Passwords are switched off here: sign in with your school account.")
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
    return signed_in(request, safe_next(field(form, "next")), token, expires)


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
    session = open_session(web, record, address)
    staff.audit(username, "login", now, ip=address)
    return session


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


# -- single sign-on -------------------------------------------------------------------------------

#: What a person refused at sign-in reads: (title, lines); "{label}" is the provider's name.
REFUSED_WORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "expired": (
        "Sign-in expired",
        ("This sign-in had expired, was already used, or was started in another browser.",
         "Start again from the log-in page."),
    ),
    "provider": (
        "The sign-in did not finish",
        ("{label} did not complete the sign-in (it may have been cancelled, or it could not be "
         "reached). Try again in a minute.",
         "If it keeps happening, tell the trust's attendance team."),
    ),
    "token": (
        "The sign-in could not be checked",
        ("The answer from {label} did not pass this service's checks, so you have not been "
         "signed in. Try again.",
         "If it keeps happening, tell the trust's attendance team: the time is in their log."),
    ),
    "NO_STAFF_RECORD": (
        "No staff record here",
        ("You signed in with {label}, but there is no staff record here for that account, so "
         "this service cannot show you any pupils.",
         "Ask your school's attendance lead or the trust's attendance team to add you with your "
         "school email address. If you have several accounts, sign out of {label} and sign in "
         "with your school one."),
    ),
    "EMAIL_NOT_VOUCHED": (
        "No staff record here",
        ("{label} did not confirm the email address of the account you signed in with, so it "
         "cannot be matched to a staff record here.",
         "Sign in with your school account, or ask the trust's attendance team for help."),
    ),
    "EMAIL_NOT_ASCII": (
        "No staff record here",
        ("The email address of the account you signed in with has characters other than plain "
         "letters, digits and punctuation, so it is never matched to a staff record here.",
         "Sign in with your school account, or ask the trust's attendance team for help."),
    ),
    "DOMAIN_NOT_ALLOWED": (
        "No staff record here",
        ("The account you signed in with is not a school account of this trust.",
         "Sign out of {label}, sign in with your school account, and try again."),
    ),
    "NO_SUBJECT": (
        "No staff record here",
        ("{label} did not say who you are.", "Tell the trust's attendance team."),
    ),
    "LINKED_TO_ANOTHER": (
        "Linked to another account",
        ("Your staff record here is already linked to a different {label} account.",
         "Sign in with that account, or ask the trust's attendance team to link you afresh."),
    ),
    "DISABLED": (
        "Account switched off",
        ("Your staff account here is switched off.",
         "Ask your school's attendance lead or the trust's attendance team."),
    ),
}  # fmt: skip


async def sso_start(request: Request) -> Response:
    """Send the browser to the identity provider (a link, not a form: the pages' CSP only lets
    forms post to this site)."""
    web = web_of(request)
    provider = oidc_flow.provider_of(web)
    if provider is None:
        return error_page(request, 404, "Not found", "Single sign-on is not set up here.")
    target = safe_next(request.query_params.get("next"))
    try:
        url, browser = await run_in_threadpool(
            oidc_flow.begin, web, provider, _redirect_uri(request, provider), target
        )
    except SignInProviderDownError as exc:
        # the failure audited moments ago, answered from memory: the log, not another audit row
        refused = oidc_flow.Refused("provider", 502, str(exc))
        log.warning("sign_in.sso_provider_still_down", detail=str(exc))
        return _refused_page(request, provider, refused)
    except SignInError as exc:
        refused = oidc_flow.Refused("provider", 502, str(exc))
        await run_in_threadpool(oidc_flow.record_refusal, web, "?", client_address(request), refused)
        return _refused_page(request, provider, refused)
    response = RedirectResponse(url, status_code=303)
    max_age = oidc_flow.SIGN_IN_MINUTES * 60
    set_cookie(response, request, web.settings, oidc_flow.SIGN_IN_COOKIE, browser, max_age)
    return response


async def sso_callback(request: Request) -> Response:
    """Where the provider sends the browser back: a session, or a page saying why not."""
    web = web_of(request)
    provider = oidc_flow.provider_of(web)
    if provider is None:
        return error_page(request, 404, "Not found", "Single sign-on is not set up here.")
    params = {k: v[:4000] for k, v in request.query_params.items()}
    outcome = await run_in_threadpool(
        oidc_flow.finish,
        web,
        provider,
        params,
        request.cookies.get(oidc_flow.SIGN_IN_COOKIE),
        _redirect_uri(request, provider),
        client_address(request),
    )
    if isinstance(outcome, oidc_flow.Refused):
        response = _refused_page(request, provider, outcome)
    else:
        response = signed_in(request, outcome.next_path, outcome.token, outcome.seconds)
    response.delete_cookie(oidc_flow.SIGN_IN_COOKIE, path="/")
    return response


def _redirect_uri(request: Request, provider: SignInProvider) -> str:
    base = provider.redirect_base or str(request.base_url).rstrip("/")
    return base + oidc_flow.CALLBACK_PATH


def _refused_page(request: Request, provider: SignInProvider, refused: oidc_flow.Refused) -> Response:
    title, lines = REFUSED_WORDS.get(refused.reason, REFUSED_WORDS["token"])
    context = {
        "title": title,
        "lines": [line.format(label=provider.label) for line in lines],
        "user": None,
        "csrf": None,
    }
    web = web_of(request)
    return web.templates.TemplateResponse(
        request, "sign_in_refused.html", context, status_code=refused.status
    )
