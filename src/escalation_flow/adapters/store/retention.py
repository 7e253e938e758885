"""The store's side of retention (``service.retention.RetentionBook``): what the plan reads,
the run that erases, the holds, and the runs recorded so far."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from escalation_flow.adapters.store import erasure, records, retention_holds
from escalation_flow.core.retention import (
    Hold,
    PupilMarks,
    RetentionPlan,
    RetentionPolicy,
    plan,
    register_cutoff,
)

#: After a run on SQLite: the file rewritten without free pages, the write-ahead log emptied.
SQLITE_SCRUB = ("PRAGMA secure_delete=ON", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)")


class SqlRetention:
    """Retention over one database."""

    def __init__(self, engine: Engine, register_snapshots: str | None = None) -> None:
        self.engine = engine
        #: the ``register_snapshots_dir`` setting: the daemon's files of this database's marks
        #: are deleted after a run (``register_snapshots.drop_snapshots``)
        self.register_snapshots = register_snapshots

    def plan(self, policy: RetentionPolicy, today: date) -> RetentionPlan:
        with self.engine.connect() as conn:
            return self._plan(conn, policy, today)

    @staticmethod
    def _plan(conn: Any, policy: RetentionPolicy, today: date) -> RetentionPlan:
        cutoff = register_cutoff(policy, today)
        marks = [PupilMarks(*row) for row in erasure.pupil_marks(conn, cutoff)]
        held = retention_holds.held_pupils(conn)
        return plan(policy, today, erasure.case_dates(conn), marks, held)

    def apply(
        self, policy: RetentionPolicy, today: date, by: str, now: datetime
    ) -> tuple[RetentionPlan, dict[str, Any]]:
        """Plan and erase in one transaction (what is erased is what was planned)."""
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.begin() as conn:
            if sqlite:  # deleted rows' bytes are overwritten with zeros, not left in free pages
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            # held before planning: a second run waits, then plans on what the first left
            records.lock_chains(conn, [erasure.RETENTION_CHAIN])
            found = self._plan(conn, policy, today)
            body = erasure.erase(conn, found, by, now)
        # the daemon's files of the registers are a cache of marks: none left of erased ones;
        # the erased rows' bytes scrubbed whether or not the folder could be deleted (an error
        # deleting it is raised after: the run is committed, the files are not gone)
        from escalation_flow.adapters.store import register_snapshots

        try:
            register_snapshots.drop_snapshots(self.register_snapshots, self.engine.url)
        finally:
            self._vacuum()
        return found, body

    def _vacuum(self) -> None:
        """After the run's transaction: SQLite rewrites the file and empties its write-ahead
        log (earlier page images of erased rows live there until it is checkpointed);
        PostgreSQL vacuums the tables the run touched (dead row versions pruned; not VACUUM
        FULL, which would lock the daemon out: docs/data-protection.md says what may remain)."""
        if self.engine.dialect.name == "sqlite":
            # on the driver's connection: the store's "begin" hook would wrap VACUUM in a
            # transaction, which SQLite refuses
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                for statement in SQLITE_SCRUB:
                    raw.execute(statement)
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.engine.dialect.name == "postgresql":
                for table in erasure.ERASED_TABLES:
                    conn.exec_driver_sql(f"VACUUM {table}")

    def record_dry_run(self, found: RetentionPlan, by: str, now: datetime) -> None:
        detail = "dry run: " + ", ".join(f"{v} {k}" for k, v in found.counts().items())
        with self.engine.begin() as conn:
            records.insert_audit(
                conn, {"at": now, "actor": by[:64], "action": "retention_dry_run",
                       "detail": detail}, now,
            )  # fmt: skip

    def place_hold(self, school: str, pupil: str, reason: str, by: str, now: datetime) -> int:
        with self.engine.begin() as conn:
            return retention_holds.place(conn, school, pupil, reason, by, now)

    def release_hold(self, hold_id: int, reason: str, by: str, now: datetime) -> Hold:
        with self.engine.begin() as conn:
            return retention_holds.release(conn, hold_id, reason, by, now)

    def holds(self, standing: bool = True) -> list[Hold]:
        with self.engine.connect() as conn:
            return retention_holds.holds(conn, standing=standing)

    def runs(self) -> list[dict[str, Any]]:
        """Every run recorded, newest first: its body with ``run`` (its number) and ``at``."""
        with self.engine.connect() as conn:
            rows = erasure.retention_records(conn)
        return [
            json.loads(r.body) | {"run": r.seq, "at": r.recorded_at.isoformat(), "hash": r.hash}
            for r in reversed(rows)
            if r.kind == erasure.RETENTION_RUN
        ]
