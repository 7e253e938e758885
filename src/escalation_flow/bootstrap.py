"""The one place that wires settings to the store, the trust, the clock and the service.

Nothing is built at import time: commands and the daemon call ``open_service`` when they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from escalation_flow.clock import Clock, SystemClock
from escalation_flow.service import Service
from escalation_flow.settings import Settings, load_settings


@contextmanager
def open_service(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    worker: str = "cli",
    trust_file: Path | None = None,
    migrate: bool = False,
) -> Iterator[Service]:
    """A ``Service`` on the configured database and trust, disposed of on the way out.

    The schema must be the newest (``escalation-flow db upgrade``) unless ``migrate`` asks for
    it to be brought up to date first.
    """
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.trust_files import load_trust

    settings = settings or load_settings()
    trust = load_trust(trust_file or settings.trust_file)
    store = Store(settings.database_url)
    try:
        if migrate:
            store.migrate()
        else:
            store.require_current()
        yield Service(store, trust, clock or default_clock(), worker=worker)
    finally:
        store.dispose()


def default_clock() -> Clock:
    """The wall clock (tests replace this function to run commands on a simulated clock)."""
    return SystemClock()
