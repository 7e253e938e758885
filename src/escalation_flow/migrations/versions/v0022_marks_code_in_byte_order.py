"""Register codes compared by their bytes on PostgreSQL (``COLLATE "C"`` on ``marks.code``).

Of two versions of one session recorded at the same instant, the later row of the load order
(pupil, date, session, recorded_at, code) is the one that counts. SQLite and the kept rows
(``kept_registers._CODE_RANK``) order codes by their bytes; a PostgreSQL database created with
an English collation (en_GB) ordered them otherwise (``\\`` before ``B``), so the daemon's
register helper, the read in its own process and ``replay`` could keep different codes. The
column itself in byte order keeps the primary key's index in the load order: a ``COLLATE "C"``
in each query instead made PostgreSQL sort every school's year of marks on every read (an
external sort, 108 -> 194 ms for 235,000 marks). The index is rebuilt once, here.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite compares text by its bytes already
        op.execute('ALTER TABLE marks ALTER COLUMN code TYPE varchar(4) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE marks ALTER COLUMN code TYPE varchar(4) COLLATE "default"')
