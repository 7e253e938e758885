"""Audit: the text of every flow version cases used, and seals over each import's marks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-12
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flow_versions",
        sa.Column("version", sa.String(64), nullable=False, comment="sha256 of yaml"),
        sa.Column("flow", sa.String(100), nullable=False, comment="the flow's id"),
        sa.Column(
            "yaml", sa.Text(), nullable=False, comment="the flow file, byte for byte (UTF-8)"
        ),
        sa.Column("first_seen", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_flow_versions"),
    )
    op.create_table(
        "mark_seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="1..n per school"),
        sa.Column("import_id", sa.Integer(), nullable=False, comment="imports.id"),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, comment="sha256 over the import's rows"),
        sa.Column(
            "fingerprints", sa.LargeBinary(), nullable=False, comment="8 bytes a row, sorted"
        ),
        sa.Column("sealed_at", _instant(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mark_seals"),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_mark_seals_school_id_schools"
        ),
        sa.UniqueConstraint("school_id", "seq", name="uq_mark_seals_school_id_seq"),
        sa.UniqueConstraint("school_id", "import_id", name="uq_mark_seals_school_id_import_id"),
    )


def downgrade() -> None:
    op.drop_table("mark_seals")
    op.drop_table("flow_versions")
