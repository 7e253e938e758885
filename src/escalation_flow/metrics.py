"""Prometheus metrics: every metric's name, help and labels in one place, on a registry of its own.

Names are ``escalation_flow_*`` with their unit in the name. The only label values are school
keys (``school-01``), import kinds, the known HTTP methods (else ``other``), route templates (``/case/{school}/{pupil}``,
never the path a request asked for) and status codes: a scrape carries no pupil, family or staff
data, so it can go to a monitoring system that is not cleared to hold them.

Each process (the daemon, the pages) makes one ``Metrics``; counters count what that process did
since it started (Prometheus' ``rate()`` and ``increase()`` read them across restarts). What the
database holds (timers pending and overdue) is read at scrape time by ``watch``, so the pages and
the daemon report the same numbers and a scrape never shows a stale gauge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from escalation_flow.errors import MetricsPortError
from escalation_flow.logs import get_logger

#: An evening takes a second for a small school and minutes for a large trust's catch-up.
EVENING_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: A page is a few milliseconds to a couple of seconds (the dashboards' charts).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: The methods a request's ``method`` label may carry: a client can send any token as its
#: method, and each new one would make a new series (a flood, or a pupil's id in the scrape).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER_METHOD = "other"
#: The one route label of every request no route matched (never its path).
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    """``method`` if it is a known HTTP method, else ``other``."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


@dataclass(frozen=True)
class StoreSnapshot:
    """What the database says at scrape time (read by ``readiness.store_snapshot``)."""

    timers_pending: int
    timers_overdue: int
    #: each school's latest evaluated school day (absent: never evaluated)
    last_evenings: dict[str, date]


class _StoreCollector(Collector):
    """The gauges read from the database when Prometheus scrapes (not kept in the process)."""

    def __init__(self, read: Callable[[], StoreSnapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = self._read()
        except Exception as exc:  # the database is down: the process's own counters still go out
            get_logger("escalation_flow.metrics").warning(
                "metrics.store_unreadable", reason=type(exc).__name__
            )
            yield GaugeMetricFamily(
                "escalation_flow_store_readable", "1 when the scrape could read the store.", 0
            )
            return
        yield GaugeMetricFamily(
            "escalation_flow_store_readable", "1 when the scrape could read the store.", 1
        )
        yield GaugeMetricFamily(
            "escalation_flow_timers_pending",
            "Review timers pending (not yet fired), due or not.",
            value=snapshot.timers_pending,
        )
        yield GaugeMetricFamily(
            "escalation_flow_timers_overdue",
            "Pending review timers whose fire time has passed (the daemon is behind or down).",
            value=snapshot.timers_overdue,
        )
        last = GaugeMetricFamily(
            "escalation_flow_last_evening_day_timestamp_seconds",
            "Midnight UTC of the latest school day evaluated, per school (alert on its age).",
            labels=["school"],
        )
        for school, day in sorted(snapshot.last_evenings.items()):
            midnight = datetime.combine(day, time(0), tzinfo=UTC).timestamp()
            last.add_metric([school], midnight)
        yield last

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read lazily: describing must not touch the database


class Metrics:
    """The registry and every metric of one process. The daemon's ``Worker`` calls the methods
    through its observer protocol (``daemon.observer``); the pages' middleware calls
    ``request``. None of the callers imports ``prometheus_client``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.timers_fired = Counter(
            "escalation_flow_timers_fired", "Review timers fired by this process.", registry=r
        )
        self.evenings = Counter(
            "escalation_flow_evenings",
            "School days evaluated (evenings run) by this process, per school.",
            ["school"],
            registry=r,
        )
        self.evening_seconds = Histogram(
            "escalation_flow_evening_duration_seconds",
            "Wall time of one school's evening evaluation, per school.",
            ["school"],
            buckets=EVENING_BUCKETS,
            registry=r,
        )
        self.imports = Counter(
            "escalation_flow_imports",
            "Register files taken from the inbox: imported, or rejected whole.",
            ["outcome"],
            registry=r,
        )
        self.rows_imported = Counter(
            "escalation_flow_import_rows_imported",
            "Rows new to the store from imported files, per kind (marks, roster, contacts).",
            ["kind"],
            registry=r,
        )
        self.rows_rejected = Counter(
            "escalation_flow_import_rows_rejected",
            "Rows refused: within imported files, and the rows a file refused whole names.",
            registry=r,
        )
        self.letters_queued = Counter(
            "escalation_flow_letters_queued", "Approved letters put in the outbox.", registry=r
        )
        self.letters_sent = Counter(
            "escalation_flow_letters_sent", "Letter copies emailed.", registry=r
        )
        self.letters_failed = Counter(
            "escalation_flow_letters_failed",
            "Letter copies whose sending failed for good (staff must act).",
            registry=r,
        )
        self.request_seconds = Histogram(
            "escalation_flow_http_request_duration_seconds",
            "Time to answer a request to the pages, by route template, method and status.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )

    def watch(self, read: Callable[[], StoreSnapshot]) -> None:
        """Read the database's gauges with ``read`` at every scrape."""
        self.registry.register(_StoreCollector(read))

    # -- the daemon's observer (``daemon.observer.DaemonObserver``) ------------------------------

    def evening(self, school: str, seconds: float, timers_fired: int) -> None:
        self.evenings.labels(school).inc()
        self.evening_seconds.labels(school).observe(seconds)
        self.timers_fired.inc(timers_fired)

    def fired(self, timers: int) -> None:
        self.timers_fired.inc(timers)

    def imported(self, kind: str, rows: int, rejected: int) -> None:
        self.imports.labels("imported").inc()
        self.rows_imported.labels(kind).inc(rows)
        self.rows_rejected.inc(rejected)

    def file_rejected(self, rows: int) -> None:
        self.imports.labels("rejected").inc()
        self.rows_rejected.inc(rows)

    def letters(self, queued: int, sent: int, failed: int) -> None:
        self.letters_queued.inc(queued)
        self.letters_sent.inc(sent)
        self.letters_failed.inc(failed)

    # -- the pages -------------------------------------------------------------------------------

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """``route`` must be a route template or ``UNMATCHED_ROUTE``; ``method`` is narrowed to
        the known methods here, so no caller can widen the label set."""
        self.request_seconds.labels(route, method_label(method), str(status)).observe(seconds)

    def text(self) -> bytes:
        """The exposition a scrape reads."""
        return generate_latest(self.registry)

    def serve(self, address: str, port: int) -> Callable[[], None]:
        """Serve ``/metrics`` on ``address:port`` from a thread of its own (the daemon's); the
        function returned stops it."""
        try:
            server, thread = start_http_server(port, addr=address, registry=self.registry)
        except OSError as exc:
            raise MetricsPortError(
                f"cannot serve metrics on {address}:{port}: {exc.strerror}"
            ) from exc

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop
