"""PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore``, run with the checks around them.

- the programs must be on PATH, and of a major version able to read the server (``pg_dump``
  refuses a newer server; we say so first, plainly);
- the dump is taken from a snapshot exported by a transaction we hold open, so the checkpoint
  made in that same snapshot describes exactly what the dump holds, while the daemon writes;
- each program's exit status is checked, and the dump's table of contents (``pg_restore
  --list``) must list every table of the database, with its data;
- a restore runs in one transaction (``--single-transaction --exit-on-error``): it lands whole
  or not at all.

The lines for those who run it themselves are in docs/backup.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from escalation_flow.errors import ConflictError, StoreError


def program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreError(
            f"{name} is not on PATH: install PostgreSQL's client programs (apt-get install "
            f"postgresql-client) of the server's major version, or see docs/backup.md"
        )
    return found


def program_major(name: str) -> int:
    """The major version of ``name --version`` ("pg_dump (PostgreSQL) 16.4" -> 16)."""
    out = _run([program(name), "--version"], what=f"{name} --version").stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    if found is None:
        raise StoreError(f"{name} --version said {out.strip()!r}: no version number in it")
    return int(found.group(1))


def server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def check_versions(name: str, major: int, needed: int, of: str) -> None:
    if major < needed:
        raise StoreError(
            f"{name} is of PostgreSQL {major}, {of} is of {needed}: {name} cannot read it; "
            f"install the client programs of PostgreSQL {needed} or newer"
        )


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A connection string for the programs and their environment: the password goes in
    ``PGPASSWORD``, never on a command line other users can read."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


@contextmanager
def snapshot(url: str) -> Iterator[tuple[str, Engine]]:
    """A snapshot exported from a repeatable-read transaction held open, and an engine every
    transaction of which sees exactly that snapshot (``SET TRANSACTION SNAPSHOT``)."""
    holder = create_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ")
    try:
        with holder.connect() as conn, conn.begin():
            name = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            seen = create_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ")

            def _in_snapshot(connection: Connection) -> None:
                connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{name}'")

            event.listen(seen, "begin", _in_snapshot)
            try:
                yield name, seen
            finally:
                seen.dispose()
    finally:
        holder.dispose()


def dump(url: str, snapshot_name: str, out: Path) -> str:
    """``pg_dump --format=custom`` of the snapshot into ``out``; returns pg_dump's version."""
    target, env = libpq(make_url(url))
    _run(
        [program("pg_dump"), "--format=custom", f"--snapshot={snapshot_name}", "--no-owner",
         "--no-privileges", f"--file={out}", f"--dbname={target}"],
        what="pg_dump", env=env,
    )  # fmt: skip
    return str(_run([program("pg_dump"), "--version"], what="pg_dump --version").stdout).strip()


def dumped_tables(dumped: Path) -> set[str]:
    """The tables the dump's table of contents lists with their data (``pg_restore --list``)."""
    listing = _run([program("pg_restore"), "--list", str(dumped)], what="pg_restore --list").stdout
    found = set(re.findall(r"\bTABLE DATA \S+ (\S+) ", listing))
    defined = set(re.findall(r"\bTABLE \S+ (\S+) ", listing))
    return found & defined


def check_contents(dumped: Path, tables: list[str]) -> None:
    """The dump's table of contents lists each of ``tables`` and its data."""
    listed = dumped_tables(dumped)
    missing = sorted(t for t in tables if t not in listed)
    if missing:
        raise StoreError(
            f"{dumped}: the dump's table of contents does not list {', '.join(missing)} (and its "
            "data): the dump is not whole; nothing was written"
        )


def tables_of(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(inspect(conn).get_table_names())


def others_connected(engine: Engine) -> list[str]:
    """Other sessions on this database (the daemon, the pages, a psql): a restore under them
    would wait on their locks, or pull the data from under a running daemon."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid, coalesce(nullif(application_name, ''), '?') AS app "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ).all()
    return [f"pid {r.pid} ({r.app})" for r in rows]


def check_no_other_tables(engine: Engine, dumped: Path) -> None:
    """``pg_restore --clean`` drops and restores only what the dump holds: a table of a newer
    schema than the dump's would stay, with its rows, beside the older data (and the schema
    upgrade after the restore would then fail). Refused, saying how to restore instead."""
    extra = sorted(set(tables_of(engine)) - dumped_tables(dumped))
    if extra:
        raise ConflictError(
            f"the database has tables the backup does not ({', '.join(extra)}: a newer schema "
            "than the backup's); restore into an empty database instead: `createdb NEW`, point "
            "ESCALATION_FLOW_DATABASE_URL at it and run restore again (docs/backup.md)"
        )


def restore(url: str, dumped: Path, dumped_by: str) -> None:
    """``pg_restore`` of ``dumped`` over the database at ``url``, whole or not at all."""
    restorer = program_major("pg_restore")
    found = re.search(r"(\d+)", dumped_by)
    if found is not None:
        check_versions("pg_restore", restorer, int(found.group(1)), "the dump's pg_dump")
    target, env = libpq(make_url(url))
    _run(
        [program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
         "--single-transaction", "--exit-on-error", f"--dbname={target}", str(dumped)],
        what="pg_restore", env=env,
    )  # fmt: skip


def _run(args: list[str], *, what: str, env: dict[str, Any] | None = None) -> Any:
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise StoreError(f"{what} could not be run: {exc}") from exc
    if done.returncode != 0:
        error = ConflictError if "lock" in done.stderr else StoreError
        raise error(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return done
