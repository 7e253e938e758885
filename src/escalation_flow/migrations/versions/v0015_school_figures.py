"""Each school's headline figures (attendance year to date, persistent and severe absence, register
problems), counted by the evening that reads the school's register and kept, so that the trust
and school dashboards read a row a school instead of every school's marks. Derived data: each
row names what it was counted from (school day, import, flow version) and a row under any other
key is never shown, so they are not chained.

With them, an index on one school's open tasks in due order (the worklist builds its rows a
school at a time; without it SQLite walked every school's open tasks for each school).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # models.UtcDateTime: timestamptz on PostgreSQL, integer microseconds (UTC) on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "school_figures",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="facts at the end of this school day"),
        sa.Column("import_stamp", sa.Integer(), nullable=False,
                  comment="the newest import's id when the registers were read"),
        sa.Column("flow_version", sa.String(64), nullable=False),
        sa.Column("pupils", sa.Integer(), nullable=False),
        sa.Column("attendance_pct", sa.Float(precision=53), nullable=True,
                  comment="NULL: no possible session yet"),
        sa.Column("persistent", sa.Integer(), nullable=False),
        sa.Column("severe", sa.Integer(), nullable=False),
        sa.Column("known", sa.Integer(), nullable=False),
        sa.Column("unmarked_pupils", sa.Integer(), nullable=False),
        sa.Column("old_n_pupils", sa.Integer(), nullable=False),
        sa.Column("counted_at", _instant(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"],
                                name="fk_school_figures_school_id_schools"),
        sa.PrimaryKeyConstraint("school_id", "day", name="pk_school_figures"),
    )  # fmt: skip
    op.create_index("ix_tasks_school_id_status_due", "tasks", ["school_id", "status", "due"])


def downgrade() -> None:
    op.drop_index("ix_tasks_school_id_status_due", table_name="tasks")
    op.drop_table("school_figures")
