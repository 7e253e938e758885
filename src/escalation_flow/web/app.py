"""The staff pages as one Starlette application: ``create_app(backend_factory, settings)``.

Server-rendered Jinja2 pages and plain HTML forms: no script, no build step. Every route asks
``web.auth.require_user`` who is there (or sends them to the login page), every form is checked
for its CSRF token, and every page that names a school or a pupil checks the grant for it
(``core.access``). Blocking work (the database, the facts) runs in the thread pool.

This module composes: the pages (``pages_*``) depend on the shared helpers (``webapp``,
``auth``, ``readable``, ``school_data``, ...), never on each other or on this module. Nothing is
built at import time: ``create_app`` builds the application; the backend is made on first use
by ``backend_factory`` (so that tests and ``serve`` hand in their own).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from escalation_flow.clock import Clock
from escalation_flow.errors import ActionError, ConflictError, InputError, NotFoundError
from escalation_flow.settings import load_settings
from escalation_flow.web import (
    health,
    pages_bulk,
    pages_case,
    pages_dashboards,
    pages_flow,
    pages_la_monthly,
    pages_letters,
    pages_login,
    pages_penalty_notices,
    pages_reports,
    pages_retention,
    pages_tasks,
    search,
)
from escalation_flow.web.security import SecurityHeaders
from escalation_flow.web.settings import WebSettings
from escalation_flow.web.webapp import (
    HERE,
    ForbiddenError,
    LoginRequiredError,
    PageBackend,
    WebApp,
    error_page,
)


def create_app(
    backend_factory: Callable[[], PageBackend],
    settings: WebSettings,
    *,
    clock: Clock | None = None,
) -> Starlette:
    """The staff pages over the backend ``backend_factory()`` makes (on first use)."""
    routes = [
        Route("/", _home),
        *pages_login.routes(),
        *pages_tasks.routes(),
        *pages_case.routes(),
        *pages_letters.routes(),
        *pages_dashboards.routes(),
        *pages_flow.routes(),
        *pages_reports.routes(),
        *pages_la_monthly.routes(),
        *pages_penalty_notices.routes(),
        *search.routes(),
        *pages_bulk.routes(),
        *pages_retention.routes(),
        *health.routes(),
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
    health.install(app, timedelta(minutes=load_settings().overdue_margin_minutes))
    return app


async def _home(request: Request) -> Response:
    return RedirectResponse("/tasks", status_code=303)


async def _to_login(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET" or not target.startswith("/"):
        target = "/tasks"
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


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
