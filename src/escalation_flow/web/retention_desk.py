"""The retention desk the data protection officer's page reads (``pages_retention``): the
service's retention over the pages' store, on the pages' clock. Shared helpers live outside the
``pages_`` modules (pages never import each other)."""

from __future__ import annotations

from escalation_flow.service.retention import Retention
from escalation_flow.web.webapp import WebApp


def retention_of(web: WebApp) -> Retention | None:
    """None when the pages run on a store without retention (tests' in-memory stores)."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.retention import SqlRetention

    store = web.service.store
    if not isinstance(store, Store):
        return None
    return Retention(SqlRetention(store.engine), web.service.trust, web.service.clock)
