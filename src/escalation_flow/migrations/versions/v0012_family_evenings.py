"""What each school's evening left for the facts across a family (issue 16, part 2).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Numbered 0012 as assigned; it follows 0010, the head when it was made (0011, 0013 and 0014
are other branches': whichever merges later re-points its ``down_revision``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "family_evenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "recorded_at",
            _instant(),
            nullable=False,
            comment="the start of the evening that wrote it (the first run's, never updated)",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_family_evenings_school_id_schools"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_family_evenings"),
        sa.UniqueConstraint("school_id", "day", name="uq_family_evenings_school_id_day"),
    )
    op.create_table(
        "family_evening_pupils",
        sa.Column("evening_id", sa.Integer(), nullable=False),
        sa.Column("pupil", sa.String(64), nullable=False),
        sa.Column("open_case", sa.Boolean(), nullable=False),
        sa.Column(
            "unauthorised",
            sa.Float(),
            nullable=True,
            comment="unauthorised sessions over the last 10 school weeks (NULL: unknown)",
        ),
        sa.ForeignKeyConstraint(
            ["evening_id"],
            ["family_evenings.id"],
            name="fk_family_evening_pupils_evening_id_family_evenings",
        ),
        sa.PrimaryKeyConstraint("evening_id", "pupil", name="pk_family_evening_pupils"),
    )


def downgrade() -> None:
    op.drop_table("family_evening_pupils")
    op.drop_table("family_evenings")
