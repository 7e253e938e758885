"""The staff pages as one Starlette application: ``create_app(service_factory, settings)``.

Server-rendered Jinja2 pages and plain HTML forms: no script, no build step. Every route asks
``web.login.require_user`` who is there (or sends them to the login page), every form is checked
for its CSRF token, and every page that names a school or a pupil checks the grant for it
(``core.access``). Blocking work (the database, the facts) runs in the thread pool.

Nothing is built at import time: ``create_app`` builds the application; the service is made on
first use by ``service_factory`` (so that tests and ``serve`` hand in their own).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from escalation_flow.clock import Clock, SystemClock
from escalation_flow.errors import (
    ActionError,
    ConflictError,
    EscalationFlowError,
    InputError,
    NotFoundError,
)
from escalation_flow.ports import PageReads, PageStaff
from escalation_flow.service import Service
from escalation_flow.web import filters
from escalation_flow.web.security import LoginForms, SecurityHeaders
from escalation_flow.web.settings import WebSettings

HERE = Path(__file__).resolve().parent


class ForbiddenError(EscalationFlowError):
    """The logged-in member of staff may not do this (or may not read this)."""


class LoginRequiredError(Exception):
    """No live session: the browser is sent to the login page."""


@dataclass(frozen=True)
class PageBackend:
    """What the pages run on, handed in by the composition (``cli.web.page_backend``): the
    service for every use case, the store's read models and its staff accounts."""

    service: Service
    reads: PageReads
    staff: PageStaff


class WebApp:
    """What every page shares: settings, the clock, the backend (made on first use), templates."""

    def __init__(
        self,
        backend_factory: Callable[[], PageBackend],
        settings: WebSettings,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._backend_factory = backend_factory
        self._backend: PageBackend | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self.login_forms = LoginForms(settings.secret_key or secrets.token_urlsafe(32))
        self.templates = Jinja2Templates(env=_environment())
        self.cache: dict[Any, Any] = {}
        self.cache_lock = threading.Lock()

    @property
    def backend(self) -> PageBackend:
        with self._lock:
            if self._backend is None:
                self._backend = self._backend_factory()
            return self._backend

    @property
    def service(self) -> Service:
        return self.backend.service

    @property
    def reads(self) -> PageReads:
        return self.backend.reads

    @property
    def staff(self) -> PageStaff:
        return self.backend.staff

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            self._clock = self.service.clock or SystemClock()
        return self._clock

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        if self.settings.today is not None:
            return self.settings.today
        return self.now().astimezone(ZoneInfo(self.service.trust.timezone)).date()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(env)
    return env


def web_of(request: Request) -> WebApp:
    web: WebApp = request.app.state.web
    return web


def create_app(
    backend_factory: Callable[[], PageBackend],
    settings: WebSettings,
    *,
    clock: Clock | None = None,
) -> Starlette:
    """The staff pages over the backend ``backend_factory()`` makes (on first use)."""
    from escalation_flow.web import login as login_pages
    from escalation_flow.web import (
        pages_case,
        pages_dashboards,
        pages_flow,
        pages_letters,
        pages_tasks,
    )

    routes = [
        Route("/", _home),
        *login_pages.routes(),
        *pages_tasks.routes(),
        *pages_case.routes(),
        *pages_letters.routes(),
        *pages_dashboards.routes(),
        *pages_flow.routes(),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            LoginRequiredError: _to_login,
            ForbiddenError: _forbidden,
            NotFoundError: _not_found,
            ConflictError: _conflict,
            ActionError: _bad_input,
            InputError: _bad_input,
            HTTPException: _http_error,
        },
    )
    app.state.web = WebApp(backend_factory, settings, clock)
    app.add_middleware(SecurityHeaders)
    return app


async def _home(request: Request) -> Response:
    return RedirectResponse("/tasks", status_code=303)


async def _to_login(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET" or not target.startswith("/"):
        target = "/tasks"
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    web = web_of(request)
    user = getattr(request.state, "user", None)
    context = {"title": title, "message": message, "user": user, "csrf": _csrf_of(request)}
    return web.templates.TemplateResponse(request, "error.html", context, status_code=status)


def _csrf_of(request: Request) -> str | None:
    session = getattr(request.state, "session", None)
    return None if session is None else str(session.csrf_token)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return error_page(request, 403, "Not allowed", str(exc) or "You cannot do this.")


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        404,
        "Not found",
        "There is nothing here that you can see. If you followed a link from a colleague, the "
        "pupil may be in a school or class that is not yours.",
    )


async def _conflict(request: Request, exc: Exception) -> Response:
    return error_page(request, 409, "Already done", str(exc))


async def _bad_input(request: Request, exc: Exception) -> Response:
    message = exc.summary if isinstance(exc, InputError) else str(exc)
    return error_page(request, 400, "That did not work", message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await _not_found(request, exc)
    if exc.status_code == 405:
        return HTMLResponse("Method not allowed", status_code=405)
    return error_page(request, exc.status_code, "Something went wrong", str(exc.detail))
