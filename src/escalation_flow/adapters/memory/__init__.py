"""An in-memory store behind the same ports as the SQL store (``ports.ServiceStore``).

For fast tests of the service: the same use cases, on the same protocols, with no database. It
keeps what the SQL store keeps, in the same shapes (the history hash-chained with ``core/chain``,
timers claimed once, units of work all or nothing) and answers the same reads in the same order.
It does not model another process (nothing is shared or locked between processes), the
database's schema and migrations, seals over marks, the staff accounts of the pages or their
read models (``ports.PageReads``).
"""

from __future__ import annotations

from escalation_flow.adapters.memory.store import MemoryStore
from escalation_flow.ports import ServiceStore

__all__ = ["MemoryStore", "service_store"]


def service_store(store: MemoryStore | None = None) -> ServiceStore:
    """A memory store as the service sees it (``mypy --strict`` checks here that ``MemoryStore``
    implements every port the service uses)."""
    return store if store is not None else MemoryStore()
