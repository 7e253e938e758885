"""Staff: people, roles per school, web sessions, login attempts, acknowledgements, audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("password_changed_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
        sa.UniqueConstraint("username", name="uq_staff_username"),
    )
    op.create_table(
        "staff_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column(
            "school_id", sa.Integer(), nullable=True, comment="NULL: every school of the trust"
        ),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column(
            "year_groups",
            sa.String(200),
            nullable=True,
            comment="class teachers: comma-separated year groups; NULL: whole school",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_roles"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_staff_roles_staff_id_staff"),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_staff_roles_school_id_schools"
        ),
        sa.UniqueConstraint(
            "staff_id", "school_id", "role", name="uq_staff_roles_staff_id_school_id_role"
        ),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("ended_at", _instant(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_web_sessions_staff_id_staff"),
        sa.UniqueConstraint("token_hash", name="uq_web_sessions_token_hash"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_ip_at", "login_attempts", ["ip", "at"])
    op.create_table(
        "task_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_task_acks"),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_task_acks_task_id_tasks"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_task_acks_staff_id_staff"),
        sa.UniqueConstraint("task_id", name="uq_task_acks_task_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column(
            "actor", sa.String(64), nullable=False, comment="staff username, or the name tried"
        ),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("school", sa.String(64), nullable=True, comment="school key"),
        sa.Column("pupil", sa.String(64), nullable=True, comment="pupil MIS id"),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_school_pupil", "audit_log", ["school", "pupil"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "task_acks",
        "login_attempts",
        "web_sessions",
        "staff_roles",
        "staff",
    ):
        op.drop_table(table)
