"""Marks: who recorded or amended each mark in the MIS (the marks CSV's optional recorded_by).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN on SQLite too (no table copy, which
    # on the WITHOUT ROWID marks table would rewrite millions of rows): existing marks are NULL,
    # "not given", which is what their files said.
    op.add_column(
        "marks",
        sa.Column(
            "recorded_by",
            sa.String(100),
            nullable=True,
            comment="the MIS user who recorded or amended the mark; NULL: not given",
        ),
    )


def downgrade() -> None:
    op.drop_column("marks", "recorded_by")
