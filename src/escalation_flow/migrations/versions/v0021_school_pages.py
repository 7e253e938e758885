"""The school dashboard's register figures per school and school day (each pupil's facts the
page lists, and the trends' weeks), kept by the evening beside the headline figures (0015), so
that a school page's first load reads one row instead of the school's marks. Derived data under
the same kind of key as ``school_figures`` (school day, import, flow version): a row under any
other key is never shown, so they are not chained.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "school_pages",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="facts at the end of this school day"),
        sa.Column("import_stamp", sa.Integer(), nullable=False,
                  comment="the newest import's id when the registers were read"),
        sa.Column("flow_version", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False,
                  comment="JSON: pupils, their facts the page lists, the weeks' trends"),
        sa.Column("counted_at", _instant(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"],
                                name="fk_school_pages_school_id_schools"),
        sa.PrimaryKeyConstraint("school_id", "day", name="pk_school_pages"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("school_pages")
