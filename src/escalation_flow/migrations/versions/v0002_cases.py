"""Cases: the case rows, their append-only history, tasks, timers, letters and school days.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-11
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("pupil", sa.String(64), nullable=False, comment="the pupil's MIS id"),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("flow_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, comment="open or closed"),
        sa.Column("stage", sa.Integer(), nullable=False, comment="0 when closed"),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=True, comment="NULL: never opened"),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False, comment="history records"),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=True, comment="the folded case (a cache)"),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        _fk("cases", "school_id", "schools"),
        sa.UniqueConstraint("school_id", "pupil", name="uq_cases_school_id_pupil"),
    )
    op.create_index("ix_cases_school_id_status", "cases", ["school_id", "status"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("on", sa.Date(), nullable=False, comment="the school day"),
        sa.Column("at", _instant(), nullable=False, comment="the decision's instant"),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column(
            "body", sa.Text(), nullable=False, comment="canonical JSON of Decision.to_event()"
        ),
        sa.Column("flow_version", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False, comment="'engine' or a staff id"),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_events"),
        _fk("case_events", "case_id", "cases"),
        sa.UniqueConstraint("case_id", "seq", name="uq_case_events_case_id_seq"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True, comment="NULL: a universal task"),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("pupil", sa.String(64), nullable=False),
        sa.Column(
            "key", sa.String(120), nullable=False, comment="task#n, or task@date (universal)"
        ),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("template", sa.String(100), nullable=True),
        sa.Column("approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, comment="open, done or superseded"),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("completed_at", _instant(), nullable=True),
        sa.Column("completed_by", sa.String(100), nullable=True),
        sa.Column("outcome", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("superseded_why", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        _fk("tasks", "case_id", "cases"),
        _fk("tasks", "school_id", "schools"),
        sa.UniqueConstraint("case_id", "key", name="uq_tasks_case_id_key"),
        sa.UniqueConstraint("school_id", "pupil", "key", name="uq_tasks_school_id_pupil_key"),
    )
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due"])
    op.create_index("ix_tasks_school_id_role_status", "tasks", ["school_id", "role", "status"])
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("timer", sa.String(100), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("fire_at", _instant(), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False, comment="e.g. '15 school days'"),
        sa.Column("calendar_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, comment="pending, fired or cancelled"),
        sa.Column("armed_at", _instant(), nullable=False),
        sa.Column("fired_at", _instant(), nullable=True),
        sa.Column("late_seconds", sa.Integer(), nullable=True, comment="how late it fired"),
        sa.Column("claimed_by", sa.String(100), nullable=True, comment="the worker"),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        _fk("timers", "case_id", "cases"),
        _fk("timers", "school_id", "schools"),
        sa.UniqueConstraint("case_id", "key", name="uq_timers_case_id_key"),
    )
    op.create_index("ix_timers_status_fire_at", "timers", ["status", "fire_at"])
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column(
            "status", sa.String(12), nullable=False, comment="prepared, approved, sent, superseded"
        ),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True, comment="NULL until rendered"),
        sa.Column("figures", sa.Text(), nullable=False, comment="JSON: the letter's whole context"),
        sa.Column("prepared_at", _instant(), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("approved_at", _instant(), nullable=True),
        sa.Column("sent_by", sa.String(100), nullable=True),
        sa.Column("sent_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_letters"),
        _fk("letters", "task_id", "tasks"),
        _fk("letters", "case_id", "cases"),
        sa.UniqueConstraint("task_id", name="uq_letters_task_id"),
    )
    op.create_table(
        "school_days",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("evaluated_at", _instant(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "day", name="pk_school_days"),
        _fk("school_days", "school_id", "schools"),
    )


def downgrade() -> None:
    op.drop_index("ix_timers_status_fire_at", table_name="timers")
    op.drop_index("ix_tasks_school_id_role_status", table_name="tasks")
    op.drop_index("ix_tasks_status_due", table_name="tasks")
    op.drop_index("ix_cases_school_id_status", table_name="cases")
    for table in ("school_days", "letters", "timers", "tasks", "case_events", "cases"):
        op.drop_table(table)
