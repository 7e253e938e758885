"""Contacts: parents and carers of each pupil, every version kept (issue 16).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05

Numbered 0008 because 0007 is another branch's; whichever merges second re-points its
``down_revision`` at the other.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("pupil", sa.String(64), nullable=False, comment="the pupil's MIS id"),
        sa.Column("contact", sa.String(64), nullable=False, comment="the contact's MIS id"),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("relationship", sa.String(60), nullable=False),
        sa.Column("parental_responsibility", sa.Boolean(), nullable=False),
        sa.Column("lives_with_pupil", sa.Boolean(), nullable=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("telephone", sa.String(40), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("may_be_contacted", sa.Boolean(), nullable=True),
        sa.Column("imported_at", _instant(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name="fk_contacts_school_id_schools"
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name="fk_contacts_import_id_imports"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint(
            "school_id",
            "pupil",
            "contact",
            "recorded_at",
            name="uq_contacts_school_id_pupil_contact_recorded_at",
        ),
    )


def downgrade() -> None:
    op.drop_table("contacts")
