"""The daemon's start checks, in order, before anything is written: the database is reachable
and migrated, the trust file reads, every school's flow passes its checks and every calendar
loads. Each failure is one typed error with a clear message (all of a trust's problems at once).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.engine import sqlite_path
from escalation_flow.adapters.store.schema import head_revision
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.errors import (
    CalendarError,
    FlowError,
    InputError,
    Problem,
    StoreError,
    TrustConfigError,
)
from escalation_flow.service import Service


def database_url(raw: str) -> URL:
    try:
        return make_url(raw)
    except ArgumentError as exc:
        raise StoreError(f"the database URL {raw!r} cannot be read: {exc}") from None


def shown(url: URL) -> str:
    """The URL as a person may see it (no password)."""
    database = sqlite_path(url)
    if url.get_backend_name() == "sqlite" and database is not None:
        return str(database)
    return url.render_as_string(hide_password=True)


def opened_store(url: URL, make: Callable[[URL], Store]) -> Store:
    """A store (``make(url)``: the composition root's) on a reachable database whose schema is
    the newest, its register helper processes started; nothing is created here."""
    database = sqlite_path(url) if url.get_backend_name() == "sqlite" else None
    if database is not None:
        _look_at_sqlite(database)
    try:
        store = make(url)
    except NoSuchModuleError as exc:
        raise StoreError(f"the database URL {shown(url)} names an unknown driver: {exc}") from None
    try:
        store.require_current()
    except DBAPIError as exc:
        store.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot reach the database {shown(url)}: {reason}") from None
    except BaseException:
        store.dispose()
        raise
    # their imports now, beside the trust's checks, not in the first evening's or catch-up's
    from escalation_flow.adapters.store.marks_reader import start_helpers  # the daemon's only

    start_helpers(store)
    return store


def _look_at_sqlite(database: Path) -> None:
    """Check a SQLite file's schema read-only: the store's connections would turn an empty or
    foreign file into a WAL database before any check could refuse it."""
    if not database.is_file():
        raise StoreError(f"there is no database at {database}: run `escalation-flow db upgrade`")
    try:
        connection = sqlite3.connect(f"file:{quote(str(database.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {database}: {exc}") from None
    try:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:  # no such table, or not a database at all
        revision = None
    finally:
        connection.close()
    current, head = (revision[0] if revision else None), head_revision()
    if current != head:
        state = "has no schema yet" if current is None else f"is at revision {current}"
        raise StoreError(
            f"the database {database} {state}; the code needs {head}: run "
            "`escalation-flow db upgrade`"
        )


def read_trust(path: Path) -> Trust:
    if not path.is_file():
        raise TrustConfigError(f"there is no trust file at {path} (settings: trust_file)")
    return load_trust(path)


def check_schools(service: Service) -> None:
    """Load every school's flow and calendar (the service keeps them); raise one error naming
    every problem of every school."""
    summaries: list[str] = []
    problems: list[Problem] = []
    kinds: set[type[InputError]] = set()
    for school in service.schools():
        try:
            service.setup(school)
        except InputError as exc:
            kinds.add(type(exc))
            if exc.summary not in summaries:
                summaries.append(exc.summary)
            problems += [p for p in exc.problems if p not in problems]
    if not summaries:
        return
    kind = kinds.pop() if len(kinds) == 1 else TrustConfigError
    if kind not in (FlowError, CalendarError, TrustConfigError):
        kind = TrustConfigError
    raise kind("the daemon cannot start: " + "; ".join(summaries), problems)


