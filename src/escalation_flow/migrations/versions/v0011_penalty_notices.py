"""The penalty-notice register: every version of every notice (issue 16, part 3).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "penalty_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "notice", sa.Integer(), nullable=False, comment="the register's number for the notice"
        ),
        sa.Column(
            "version", sa.Integer(), nullable=False, comment="1 when recorded, +1 per change"
        ),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("pupil", sa.String(64), nullable=False, comment="the pupil's MIS id"),
        sa.Column("parent", sa.String(64), nullable=False, comment="the contact id of the parent"),
        sa.Column(
            "kind", sa.String(30), nullable=False, comment="penalty_notice, notice_to_improve"
        ),
        sa.Column("offence", sa.String(30), nullable=False),
        sa.Column(
            "sessions",
            sa.Text(),
            nullable=False,
            comment="JSON [[date, AM|PM, mark as known when recorded], ...]",
        ),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount_reduced", sa.Integer(), nullable=True, comment="pounds within 21 days"),
        sa.Column("amount_full", sa.Integer(), nullable=True, comment="pounds within 28 days"),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_penalty_notices_school_id_schools"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_penalty_notices"),
        sa.UniqueConstraint("notice", "version", name="uq_penalty_notices_notice_version"),
    )


def downgrade() -> None:
    op.drop_table("penalty_notices")
