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


class SqlRetention:
    """Retention over one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        with self.engine.begin() as conn:
            # held before planning: a second run waits, then plans on what the first left
            records.lock_chains(conn, [erasure.RETENTION_CHAIN])
            found = self._plan(conn, policy, today)
            return found, erasure.erase(conn, found, by, now)

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
