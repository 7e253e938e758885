"""The staff pages: worklists, case pages, letters and dashboards (``create_app``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from escalation_flow.clock import Clock
    from escalation_flow.web.settings import WebSettings
    from escalation_flow.web.webapp import PageBackend


def create_app(
    backend_factory: Callable[[], PageBackend], settings: WebSettings, *, clock: Clock | None = None
) -> Starlette:
    """The ASGI application (see ``web.app.create_app``); imported on call, never at import."""
    from escalation_flow.web.app import create_app as build

    return build(backend_factory, settings, clock=clock)


__all__ = ["create_app"]
