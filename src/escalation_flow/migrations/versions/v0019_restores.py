"""Restores: each time a backup was restored over this database, a row saying which backup
(when it was made, the sha256 of its database copy and the checkpoint it carried), when, and
what was replaced. ``audit verify --against`` an auditor's checkpoint made after the backup
but before the restore reads it to tell records lost by the restore from a truncation.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "restores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("restored_at", _instant(), nullable=False),
        sa.Column("backup_created_at", _instant(), nullable=False),
        sa.Column("backup_file", sa.String(500), nullable=False,
                  comment="the backup's file name as given to restore"),
        sa.Column("database_sha256", sa.String(64), nullable=False,
                  comment="sha256 of the database copy in the backup"),
        sa.Column("checkpoint", sa.Text(), nullable=False,
                  comment="the checkpoint the backup carried, whole (JSON)"),
        sa.Column("replaced", sa.Text(), nullable=False,
                  comment="what the database held beyond the backup when restored (--force)"),
        sa.PrimaryKeyConstraint("id", name="pk_restores"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("restores")
