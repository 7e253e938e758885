"""Who may work on a database: one daemon per SQLite file; on PostgreSQL, one evaluation of a
school day at a time across daemons (timers are shared row by row with ``SKIP LOCKED``)."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from escalation_flow.errors import ConflictError


class SqliteLock:
    """An exclusive ``flock`` on ``<database>.daemon.lock``, held for the process's life.

    The kernel drops the lock when the process ends, however it ends (``SIGKILL`` included), so
    a stale lock file never keeps the next daemon out; the pid written in it is only for the
    message a second daemon prints.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".daemon.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConflictError(
                f"another daemon is running against {self.database} (pid {holder}); stop it "
                "first (one daemon per SQLite database; several need PostgreSQL)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


@contextmanager
def school_day_lock(engine: Engine, school: str) -> Iterator[bool]:
    """On PostgreSQL, try to take the school's day-evaluation lock (a session advisory lock);
    yields False when another daemon holds it. Elsewhere there is one daemon: always True."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    digest = hashlib.sha256(f"escalation-flow:school-day:{school}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
