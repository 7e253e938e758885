"""Tasks of a school-level duty list the pupils they cover (issue 11: one weekly or daily check
per school and role, not a task per pupil).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a plain ADD COLUMN on SQLite too. Every task made before this is a pupil's.
    op.add_column(
        "tasks",
        sa.Column(
            "covers",
            sa.Text(),
            nullable=True,
            comment="a school-level duty's task: the pupils it covers, comma-separated",
        ),
    )


def downgrade() -> None:
    op.drop_column("tasks", "covers")
