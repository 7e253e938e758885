"""Registers: schools, pupils, imports and bitemporal marks.

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, comment="the id used in files"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("urn", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schools"),
        sa.UniqueConstraint("key", name="uq_schools_key"),
        sa.UniqueConstraint("urn", name="uq_schools_urn"),
    )
    op.create_table(
        "pupils",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("mis_id", sa.String(64), nullable=False, comment="the pupil id in the MIS"),
        sa.Column("forename", sa.String(100), nullable=True),
        sa.Column("surname", sa.String(100), nullable=True),
        sa.Column("year_group", sa.String(20), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("admitted_on", sa.Date(), nullable=True),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pupils"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"], name="fk_pupils_school_id_schools"),
        sa.UniqueConstraint("school_id", "mis_id", name="uq_pupils_school_id_mis_id"),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False, comment="marks or roster"),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False, comment="data rows read"),
        sa.Column("accepted", sa.Integer(), nullable=False, comment="rows that passed the checks"),
        sa.Column(
            "imported", sa.Integer(), nullable=False, comment="rows that were new to the store"
        ),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("started_at", _instant(), nullable=False),
        sa.Column("finished_at", _instant(), nullable=False),
        sa.Column("imported_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    # No foreign keys on marks: see models.Mark.
    op.create_table(
        "marks",
        sa.Column("school_id", sa.Integer(), nullable=False, comment="schools.id"),
        sa.Column("pupil_id", sa.Integer(), nullable=False, comment="pupils.id"),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("session", sa.String(2), nullable=False, comment="AM or PM"),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("code", sa.String(4), nullable=False),
        sa.Column("minutes_late", sa.SmallInteger(), nullable=True),
        sa.Column("imported_at", _instant(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False, comment="imports.id"),
        sa.PrimaryKeyConstraint(
            "school_id", "pupil_id", "date", "session", "recorded_at", "code", name="pk_marks"
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for table in ("marks", "imports", "pupils", "schools"):
        op.drop_table(table)
