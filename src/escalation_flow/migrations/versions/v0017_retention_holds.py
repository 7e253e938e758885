"""Retention (issue 17, part 4): legal holds that keep a pupil's records past their term.

A hold names a school and a pupil, why, who placed it and when; a release says who lifted it,
when and why. The row keeps the reason's text (it may name people); the hold and its release
are also chained (``retention_hold``, ``retention_release`` on the ``retention`` chain) with a
digest of the reason. Retention runs themselves need no table: each is a record on that chain.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retention_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("pupil", sa.String(64), nullable=False, comment="the pupil's MIS id"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("held_by", sa.String(100), nullable=False),
        sa.Column("held_at", _instant(), nullable=False),
        sa.Column("released_by", sa.String(100), nullable=True),
        sa.Column("released_at", _instant(), nullable=True, comment="NULL: the hold stands"),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"],
                                name="fk_retention_holds_school_id_schools"),
        sa.PrimaryKeyConstraint("id", name="pk_retention_holds"),
    )  # fmt: skip
    op.create_index("ix_retention_holds_school_id_pupil", "retention_holds", ["school_id", "pupil"])


def downgrade() -> None:
    op.drop_index("ix_retention_holds_school_id_pupil", table_name="retention_holds")
    op.drop_table("retention_holds")
