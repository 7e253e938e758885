"""Engines from URLs: a SQLite file (its folder created, WAL, sensible pragmas) or PostgreSQL.

On SQLite a transaction opened with ``engine.begin()`` is a write transaction and starts
``BEGIN IMMEDIATE``: it takes the write lock first, waiting up to the busy
timeout for another writer. A plain ``BEGIN`` that reads and then writes cannot wait: when
another process committed after its first read, SQLite refuses the upgrade at once
(``SQLITE_BUSY_SNAPSHOT``, "database is locked") whatever the timeout, which killed a running
daemon when ``run-day`` wrote beside it. Reads (``engine.connect()``, begun on first use) stay
deferred, so they never wait for a writer in WAL mode. A lock still held when the timeout runs out
becomes a ``ConflictError`` with a plain message, not a driver traceback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.pool import StaticPool

from escalation_flow.errors import ConflictError

#: How long a SQLite connection waits for another process's write lock, in milliseconds.
BUSY_TIMEOUT_MS = 30_000

#: Applied to every SQLite connection. WAL lets the daemon read while an import writes;
#: NORMAL is durable in WAL mode except for the last commits on power loss, never corrupt.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-131072",
)

#: The execution option that marks a connection's transactions as writes (``BEGIN IMMEDIATE``).
WRITE_OPTION = "escalation_flow_write"

#: SQLite's result codes for a lock another connection holds (SQLITE_BUSY, SQLITE_LOCKED and
#: their extended forms, SQLITE_BUSY_SNAPSHOT among them).
_BUSY_CODES = frozenset({5, 6, 261, 262, 517, 773})


class StoreEngine(Engine):
    """An engine whose ``begin()`` opens a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn


def server_options(parsed: URL) -> dict[str, str]:
    """The connection arguments the store adds to a server database's URL (a register helper
    connects with them too: ``marks_reader``)."""
    return {} if "options" in parsed.query else {"options": "-c jit=off"}


def create_store_engine(url: str | URL) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # The store's statements are reads by key and bulk writes, none of which JIT compiling
        # pays for; yet a misestimated cost (a table without statistics) compiled them: ~12 ms a
        # statement, and ~0.15 s the first time a connection loads LLVM. Options in the URL win.
        return create_engine(parsed, pool_pre_ping=True, connect_args=server_options(parsed))
    path = sqlite_path(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    else:  # one in-memory database, whichever connection asks (tests, trials)
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    # Same state, one method more: SQLAlchemy builds the engine and offers no hook for its class.
    engine.__class__ = StoreEngine
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    event.listen(engine, "handle_error", _on_sqlite_error)
    return engine


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event open transactions instead of the sqlite3 module's guesses,
    # so that reads and DDL are inside the transaction too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    explicit = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if explicit else "BEGIN")


def _on_sqlite_error(context: ExceptionContext) -> BaseException | None:
    """A lock held past the busy timeout: a ConflictError saying so (the daemon retries those)."""
    error = context.original_exception
    if not isinstance(error, sqlite3.OperationalError):
        return None
    if getattr(error, "sqlite_errorcode", None) not in _BUSY_CODES:
        return None
    return ConflictError(
        f"the database is busy: another process (an import, run-day or the daemon) held its "
        f"write lock for more than {BUSY_TIMEOUT_MS // 1000} s; nothing was changed, try again "
        f"({error})"
    )
