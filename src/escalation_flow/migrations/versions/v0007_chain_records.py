"""Chain format 2: later records (letters' content and approval, completions of tasks without a
case, the staff audit log) chained beside the cases' histories, and what is stored already
chained as it stands at the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    from escalation_flow.adapters.store.records import backfill
    from escalation_flow.clock import SystemClock

    op.create_table(
        "chain_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(200), nullable=False,
                  comment="case:<school>/<pupil>, school:<key>, trust"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(60), nullable=False, comment="letter N, task N, audit N"),
        sa.Column("body", sa.Text(), nullable=False,
                  comment="canonical JSON: digests, who and when"),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chain_records"),
        sa.UniqueConstraint("chain", "seq", name="uq_chain_records_chain_seq"),
    )  # fmt: skip
    op.create_index("ix_chain_records_subject", "chain_records", ["subject"])
    backfill(op.get_bind(), SystemClock().now())


def downgrade() -> None:
    op.drop_index("ix_chain_records_subject", table_name="chain_records")
    op.drop_table("chain_records")
