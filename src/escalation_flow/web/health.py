"""``/healthz``, ``/readyz`` and ``/metrics`` on the pages' server, and the request timer.

- ``/healthz``: the process answers (200, nothing read). For systemd or a load balancer's
  liveness probe: restart when this fails.
- ``/readyz``: ``readiness.readiness`` (database answers, schema current, every school's
  evening evaluated): 200 when ready, 503 when not, the same JSON shape either way, naming each
  failing check. For a load balancer and for the IT team's monitoring.
- ``/metrics``: this process's Prometheus metrics (``metrics.Metrics``) and the store's gauges.

None asks who is there: probes and scrapers have no login. None says anything about a pupil:
readiness names schools and days, the metrics' labels are school keys and route templates.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from escalation_flow.metrics import CONTENT_TYPE, UNMATCHED_ROUTE, Metrics
from escalation_flow.readiness import readiness, store_snapshot
from escalation_flow.web.webapp import web_of

NO_STORE = {"Cache-Control": "no-store"}


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", _healthz, methods=["GET", "HEAD"]),
        Route("/readyz", _readyz, methods=["GET", "HEAD"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]


def install(app: Starlette, margin: timedelta) -> Metrics:
    """The pages' metrics (the store's gauges read through the pages' backend at scrape time),
    the request timer, and the margin ``/readyz`` gives an evening (``status``'s)."""
    metrics = Metrics()
    metrics.watch(lambda: store_snapshot(app.state.web.service))
    app.state.metrics = metrics
    app.state.ready_margin = margin
    app.add_middleware(RequestTimer, metrics=metrics)
    return metrics


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n", headers=NO_STORE)


async def _readyz(request: Request) -> Response:
    margin: timedelta = request.app.state.ready_margin
    web = web_of(request)
    found = await run_in_threadpool(lambda: readiness(web.service, margin))
    status = 200 if found.ready else 503
    return JSONResponse(found.body(), status_code=status, headers=NO_STORE)


async def _metrics(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    text = await run_in_threadpool(metrics.text)  # the store's gauges are read now
    return Response(text, media_type=CONTENT_TYPE, headers=NO_STORE)


class RequestTimer:
    """Times every HTTP request into ``escalation_flow_http_request_duration_seconds``, labelled
    with the route's template (never the path: paths carry pupil ids) or ``unmatched``.

    A duration, not an instant: it is measured with ``perf_counter``, not the service's clock
    (which is simulated in demos and shifted by ``serve --today``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # an exception that escapes every handler

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.request(
                route_label(scope), scope["method"], status, time.perf_counter() - began
            )


def route_label(scope: Scope) -> str:
    """The matched route's template, or ``unmatched`` for every path no route took (a 404's
    path is whatever a client typed: one label for all of them)."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE
