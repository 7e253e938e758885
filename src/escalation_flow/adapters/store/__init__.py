"""The SQL store (SQLite or PostgreSQL): schools, pupils, imports and bitemporal marks.

``Store(url)`` is the way in; ``migrate(url)`` brings a database's schema up to date without
an ``alembic.ini`` in the working directory (the migration scripts ship in the package).

``Store`` and ``ImportSummary`` are imported when first asked for, not with the package: a
register helper process imports a few of its modules (``register_helper``), and importing the
whole store with them was most of a helper's start (issue 13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from escalation_flow.adapters.store.store import ImportSummary, Store


def migrate(url: str | URL) -> None:
    """Bring the database at ``url`` to the newest schema (creating a SQLite file if needed)."""
    from escalation_flow.adapters.store.engine import create_store_engine
    from escalation_flow.adapters.store.schema import upgrade

    engine = create_store_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def __getattr__(name: str) -> Any:
    if name in ("ImportSummary", "Store"):
        from escalation_flow.adapters.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ImportSummary", "Store", "migrate"]
