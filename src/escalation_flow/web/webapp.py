"""What every page shares: the backend handed in, settings, the clock, templates and a cache.

Pages and helpers reach it through ``web_of(request)``; only ``app.create_app`` builds it. The
backend (service, read models, staff accounts) is made on first use by the factory the
composition hands in (``bootstrap.page_backend``), so that tests and ``serve`` bring their own.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from escalation_flow.clock import Clock, SystemClock
from escalation_flow.errors import EscalationFlowError
from escalation_flow.ports import PageReads, PageStaff
from escalation_flow.service import Service
from escalation_flow.service.reports import Reports
from escalation_flow.web import filters
from escalation_flow.web.security import LoginForms
from escalation_flow.web.settings import WebSettings

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
#: Entries kept before the cache starts again (a register per school and day is a few MB).
CACHE_SIZE = 200


class ForbiddenError(EscalationFlowError):
    """The logged-in member of staff may not do this (or may not read this)."""


class LoginRequiredError(Exception):
    """No live session: the browser is sent to the login page."""


@dataclass(frozen=True)
class PageBackend:
    """What the pages run on, handed in by the composition (``bootstrap.page_backend``): the
    service for every use case, the store's read models, its staff accounts and the reports of
    the termly targeting meeting (``None``: a backend built without them, as in some tests)."""

    service: Service
    reads: PageReads
    staff: PageStaff
    reports: Reports | None = None


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
        self._cache: dict[Hashable, Any] = {}
        self._cache_lock = threading.Lock()
        self._stamped: dict[Hashable, tuple[Hashable, Any]] = {}

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

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()`` once per ``key`` (built outside the lock: two threads may both build)."""
        with self._cache_lock:
            if key in self._cache:
                found: T = self._cache[key]
                return found
        value = build()
        with self._cache_lock:
            if len(self._cache) > CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = value
        return value

    def stamped(self, key: Hashable, stamp: Hashable, build: Callable[[], T]) -> T:
        """``build()`` once per ``key`` while ``stamp`` stays the same: one value per key, replaced
        when its stamp changes (so that values stamped per school do not pile up, as they would
        in ``cached``, until a clear throws every school's away at once)."""
        with self._cache_lock:
            found = self._stamped.get(key)
            if found is not None and found[0] == stamp:
                value: T = found[1]
                return value
        value = build()
        with self._cache_lock:
            self._stamped[key] = (stamp, value)
        return value


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


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """A page that says what went wrong, in the site's frame (never a traceback)."""
    web = web_of(request)
    user = getattr(request.state, "user", None)
    context = {"title": title, "message": message, "user": user, "csrf": _csrf_of(request)}
    return web.templates.TemplateResponse(request, "error.html", context, status_code=status)


def _csrf_of(request: Request) -> str | None:
    session = getattr(request.state, "session", None)
    return None if session is None else str(session.csrf_token)


def web_of(request: Request) -> WebApp:
    web: WebApp = request.app.state.web
    return web
