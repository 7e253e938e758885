"""SQLite write transactions take the write lock first, so a writer waits for another instead
of failing, and a lock held too long is a plain ConflictError (issue 14, item 1)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine

from escalation_flow.adapters.store.engine import create_store_engine
from escalation_flow.errors import ConflictError


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'locks.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    return engine


def _path(engine: Engine) -> str:
    assert engine.url.database is not None
    return engine.url.database


def test_a_write_transaction_that_reads_first_keeps_the_file_so_its_write_cannot_fail(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
        other = sqlite3.connect(_path(engine), timeout=0.2, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO t VALUES (2)")  # another process's write waits for ours
        other.close()
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]


def test_a_read_does_not_wait_for_a_writer(engine: Engine) -> None:
    other = sqlite3.connect(_path(engine), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (7)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    other.execute("COMMIT")
    other.close()


def test_a_write_lock_held_past_the_timeout_is_a_conflict_saying_the_database_is_busy(
    engine: Engine,
) -> None:
    with engine.connect() as conn:  # the pooled connection the next begin() reuses
        conn.exec_driver_sql("PRAGMA busy_timeout = 100")
    other = sqlite3.connect(_path(engine), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ConflictError, match="the database is busy"), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        other.execute("ROLLBACK")
        other.close()
