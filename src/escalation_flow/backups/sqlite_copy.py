"""SQLite's online backup API, both ways.

``Connection.backup`` copies the database page by page under a read transaction of its own:
the copy is the database as of one commit, whatever the daemon writes meanwhile (in WAL mode
the writer does not wait for it). Restoring runs the same API the other way, into the live
file, in one step under the destination's write lock: a connection open elsewhere sees the old
database or the new one, never half of each.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from escalation_flow.adapters.store.engine import BUSY_TIMEOUT_MS


def copy_database(live: Path, copy: Path) -> None:
    """A consistent copy of ``live`` at ``copy`` (which must not exist), as a single file."""
    source = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def single_file(copy: Path) -> None:
    """The copy's header says WAL, as the live file's does (and the store's engine sets it on
    every connection): turned back to a rollback journal, the one file alone is the whole
    database. Called once nothing else has the copy open."""
    single = sqlite3.connect(copy)
    try:
        single.execute("PRAGMA journal_mode=DELETE")
    finally:
        single.close()


def restore_database(copy: Path, live: Path) -> None:
    """Replace the contents of ``live`` (made if absent) with the database at ``copy``."""
    live.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    target = sqlite3.connect(live, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")  # as the store runs it (engine.SQLITE_PRAGMAS)
    finally:
        target.close()
        source.close()
