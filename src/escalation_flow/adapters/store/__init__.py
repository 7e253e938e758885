"""The SQL store (SQLite or PostgreSQL): schools, pupils, imports and bitemporal marks.

``Store(url)`` is the way in; ``migrate(url)`` brings a database's schema up to date without
an ``alembic.ini`` in the working directory (the migration scripts ship in the package).
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from escalation_flow.adapters.store.engine import create_store_engine
from escalation_flow.adapters.store.schema import upgrade
from escalation_flow.adapters.store.store import ImportSummary, Store


def migrate(url: str | URL) -> None:
    """Bring the database at ``url`` to the newest schema (creating a SQLite file if needed)."""
    engine = create_store_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


__all__ = ["ImportSummary", "Store", "migrate"]
