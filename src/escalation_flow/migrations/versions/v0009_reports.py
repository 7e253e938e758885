"""The termly targeting meeting's agreed actions and the local authority's monthly
notifications recorded as sent (issue 16, parts 4-5).

Revision ID: 0009
Revises: 0006 (on its own branch; 0008 once the families migrations are merged before it)
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meeting_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school", sa.String(64), nullable=False, comment="school key"),
        sa.Column("term", sa.String(20), nullable=False, comment="e.g. autumn-2025"),
        sa.Column("pupil", sa.String(64), nullable=False, comment="pupil MIS id"),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_meeting_actions"),
    )
    op.create_index("ix_meeting_actions_school_term", "meeting_actions", ["school", "term"])
    op.create_table(
        "la_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school", sa.String(64), nullable=False, comment="school key"),
        sa.Column("month", sa.String(7), nullable=False, comment="YYYY-MM"),
        sa.Column("pupils", sa.Text(), nullable=False, comment="the pupils named, one per line"),
        sa.Column("digest", sa.String(64), nullable=False, comment="sha256 of the CSV sent"),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.Column("sent_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_la_notifications"),
    )
    op.create_index("ix_la_notifications_school_month", "la_notifications", ["school", "month"])


def downgrade() -> None:
    op.drop_index("ix_la_notifications_school_month", table_name="la_notifications")
    op.drop_table("la_notifications")
    op.drop_index("ix_meeting_actions_school_term", table_name="meeting_actions")
    op.drop_table("meeting_actions")
