"""The outbox: approved letters queued per household for email (or the post), and what became
of each (issue 15 part 2). Letters approved before the outbox existed get a ``before_outbox``
marker, so that an upgrade never emails a letter staff approved (and may have sent by hand)
before the service could send anything.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("household", sa.String(400), nullable=False,
                  comment="its contact ids, comma-separated"),
        sa.Column("channel", sa.String(12), nullable=False, comment="email, post or none"),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("names", sa.Text(), nullable=False, comment="JSON list: the addressees"),
        sa.Column("emails", sa.Text(), nullable=False, comment="JSON list"),
        sa.Column("postal_address", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False,
                  comment="stable across attempts"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _instant(), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_at", _instant(), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("queued_at", _instant(), nullable=False),
        sa.Column("done_at", _instant(), nullable=True, comment="sent, failed or printed at"),
        sa.ForeignKeyConstraint(["letter_id"], ["letters.id"], name="fk_outbox_letter_id_letters"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("letter_id", "household", name="uq_outbox_letter_id_household"),
    )  # fmt: skip
    op.create_index("ix_outbox_letter_id", "outbox", ["letter_id"])
    op.create_index("ix_outbox_status", "outbox", ["status"])
    # every letter approved so far: marked, never sent by the outbox
    op.execute(
        "INSERT INTO outbox (letter_id, household, channel, status, names, emails, "
        "postal_address, message_id, attempts, queued_at) "
        "SELECT id, '', 'none', 'before_outbox', '[]', '[]', '', '', 0, approved_at "
        "FROM letters WHERE approved_by IS NOT NULL AND approved_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.drop_index("ix_outbox_letter_id", table_name="outbox")
    op.drop_table("outbox")
