"""Imports of marks record how they were sealed, so a missing seal can be told from a back-fill.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a plain ADD COLUMN on SQLite too. Roster imports stay NULL.
    op.add_column(
        "imports",
        sa.Column(
            "seal",
            sa.String(12),
            nullable=True,
            comment="marks: sealed (at import), no_seal (--no-seal, not sealed yet), "
            "sealed_later (by audit seal) or forced (audit seal --force)",
        ),
    )
    # Imports made before this was recorded: an import of marks with a seal was sealed (at
    # import or later, we cannot tell: `sealed` either way, so a seal deleted from now on is a
    # failure); one without is taken as the --no-seal back-fill it most likely was. A seal
    # deleted before the upgrade cannot be told from that: a checkpoint made before it can.
    op.execute(
        "UPDATE imports SET seal = CASE WHEN EXISTS "
        "(SELECT 1 FROM mark_seals s WHERE s.import_id = imports.id) "
        "THEN 'sealed' ELSE 'no_seal' END WHERE kind = 'marks'"
    )


def downgrade() -> None:
    op.drop_column("imports", "seal")
