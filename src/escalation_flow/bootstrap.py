"""The composition root: the one place that builds the store, the trust, the clock and the service
for the command line, the daemon and the pages.

Nothing is built at import time. A ``Root`` holds the clock everything runs on (the wall clock
unless one is passed in: tests and demonstrations hand in a ``SimulatedClock``, never patch a
function); the command line finds it in click's context object (``main(obj=Root(clock))``), the
daemon and the pages are given it. ``Service`` and ``Store`` are constructed here and nowhere
else in the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from escalation_flow.clock import Clock, SystemClock
from escalation_flow.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.trust_files import Trust
    from escalation_flow.daemon.runner import Daemon, DaemonOptions
    from escalation_flow.sending import LetterSender
    from escalation_flow.service import Service
    from escalation_flow.service.reports import Reports
    from escalation_flow.web.webapp import PageBackend


@dataclass(frozen=True)
class Root:
    """Builds what a command, the daemon or the pages run on, all on ``clock``."""

    clock: Clock = field(default_factory=SystemClock)

    def settings(self) -> Settings:
        return load_settings()

    @contextmanager
    def store(
        self,
        settings: Settings | None = None,
        *,
        migrate: bool = False,
        require_current: bool = True,
    ) -> Iterator[Store]:
        """The configured database, disposed of on the way out; its schema must be the newest
        (``escalation-flow db upgrade``) unless ``migrate`` brings it up to date first."""
        from escalation_flow.adapters.store import Store

        store = Store((settings or load_settings()).database_url)
        try:
            if migrate:
                store.migrate()
            elif require_current:
                store.require_current()
            yield store
        finally:
            store.dispose()

    def trust(self, settings: Settings | None = None, trust_file: Path | None = None) -> Trust:
        from escalation_flow.adapters.trust_files import load_trust

        return load_trust(trust_file or (settings or load_settings()).trust_file)

    def build_service(
        self, store: Store, trust: Trust, *, worker: str = "cli", clock: Clock | None = None
    ) -> Service:
        """The one construction of ``Service`` (``clock``: another than the root's, e.g. the
        pages' shifted clock). Staff actions must name a member of staff of the store's staff
        table, or a system actor (``actors``)."""
        from escalation_flow.actors import Actors
        from escalation_flow.adapters.store import Store
        from escalation_flow.adapters.store.staff_store import StaffStore
        from escalation_flow.service import Service

        # a store without a staff table (the memory store of tests) checks names' form only
        staff = StaffStore(store.engine) if isinstance(store, Store) else None
        actors = Actors(staff)
        return Service(store, trust, clock or self.clock, worker=worker, actors=actors)

    @contextmanager
    def service(
        self,
        settings: Settings | None = None,
        *,
        worker: str = "cli",
        trust_file: Path | None = None,
        migrate: bool = False,
    ) -> Iterator[Service]:
        """A ``Service`` on the configured database and trust, disposed of on the way out."""
        settings = settings or load_settings()
        trust = self.trust(settings, trust_file)
        with self.store(settings, migrate=migrate) as store:
            yield self.build_service(store, trust, worker=worker)

    def letter_sender(self, settings: Settings | None = None) -> LetterSender | None:
        """The channel approved letters are emailed through: SMTP when
        ``ESCALATION_FLOW_SMTP_HOST`` is set (then ``..._SMTP_FROM`` is required), else None
        (letters stay queued)."""
        import ssl

        from escalation_flow.adapters.smtp_sender import SmtpConfig, SmtpSender
        from escalation_flow.errors import InputError

        s = settings or load_settings()
        if not s.smtp_host:
            return None
        if not s.smtp_from:
            raise InputError(
                "ESCALATION_FLOW_SMTP_HOST is set but ESCALATION_FLOW_SMTP_FROM is not: "
                "letters need a From address"
            )
        return SmtpSender(
            SmtpConfig(
                host=s.smtp_host, port=s.smtp_port, sender=s.smtp_from,
                username=s.smtp_username, password=s.smtp_password,
                starttls=s.smtp_starttls, timeout=s.smtp_timeout,
                tls=ssl.create_default_context(cafile=str(s.smtp_ca_file))
                if s.smtp_ca_file else None,
            )
        )  # fmt: skip

    # -- the daemon --------------------------------------------------------------------------------

    def daemon(self, settings: Settings, options: DaemonOptions) -> Daemon:
        """A daemon on the root's clock; it opens its store through ``daemon_service``."""
        from escalation_flow.daemon.runner import Daemon

        return Daemon(settings, options, self)

    def daemon_store(self, url: URL) -> Store:
        """A store on a database the daemon's start checked (reachable, schema current, nothing
        created); the caller disposes of it."""
        from escalation_flow.adapters.store import Store
        from escalation_flow.daemon.startup import opened_store

        return opened_store(url, Store)

    # -- the pages ---------------------------------------------------------------------------------

    def web_services(
        self, settings: Settings | None = None, clock: Clock | None = None
    ) -> tuple[Callable[[], Service], Callable[[], None]]:
        """A factory of the pages' service (built on first request) and how to close its
        store; the trust's schools are added to the store first."""
        settings = settings or load_settings()
        trust = self.trust(settings)
        from escalation_flow.adapters.store import Store

        store = Store(settings.database_url)
        try:
            store.require_current()
            store.upsert_schools(trust)
        except Exception:
            store.dispose()
            raise
        emails = bool(settings.smtp_host)

        def build() -> Service:
            service = self.build_service(store, trust, worker="web", clock=clock)
            # as ``letters send`` and the daemon decide it: a copy the pages queue again
            # (readdressed) goes for the post when no email sender is configured
            service.outbox.emails = emails
            return service

        return build, store.dispose

    def page_backends(
        self, settings: Settings | None = None, clock: Clock | None = None
    ) -> tuple[Callable[[], PageBackend], Callable[[], None]]:
        """``web_services`` with the store's read models and staff accounts beside the service:
        what the pages are handed (they never build a store adapter themselves)."""
        services, close = self.web_services(settings, clock)
        return (lambda: page_backend(services()), close)


def page_backend(service: Service) -> PageBackend:
    """The pages' backend over a service: the store's read models and staff accounts."""
    from escalation_flow.adapters.store.page_reads import SqlPageReads
    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.web.webapp import PageBackend

    return PageBackend(
        service,
        SqlPageReads(service.store),
        StaffStore(service.store.engine),
        report_desk(service),
    )


def report_desk(service: Service) -> Reports:
    """The termly targeting report and the local authority's notifications over a service: the
    store keeps their records; the siblings column reads the contacts' families
    (``service.families``, the ``report_ports.SiblingDirectory``)."""
    from escalation_flow.adapters.store.report_store import SqlReportRecords
    from escalation_flow.service.reports import Reports

    return Reports(
        service.ctx,
        service.staff.actors,
        SqlReportRecords(service.store.engine),
        siblings=service.families,
    )


def open_service(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    worker: str = "cli",
    trust_file: Path | None = None,
    migrate: bool = False,
) -> AbstractContextManager[Service]:
    """``Root(clock).service(...)``: a service on the configured database (scripts, tests)."""
    root = Root(clock) if clock is not None else Root()
    return root.service(settings, worker=worker, trust_file=trust_file, migrate=migrate)
