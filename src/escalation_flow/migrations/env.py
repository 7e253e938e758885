"""Alembic's environment: run by alembic for every command, never imported by the service.

The service hands in an open connection (``config.attributes["connection"]``); a developer's
``alembic -c .../alembic.ini -x url=...`` builds an engine from the ``url`` argument instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from escalation_flow.adapters.store.engine import create_store_engine
from escalation_flow.adapters.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database with -x url=... (e.g. sqlite:///var/dev.sqlite)")
    return url


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(_url())
    with engine.begin() as new_connection:
        _run(new_connection)
    engine.dispose()


run()
