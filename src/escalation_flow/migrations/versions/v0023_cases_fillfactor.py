"""PostgreSQL's ``cases`` pages keep room (fillfactor 70) for the row's next version.

A school day rewrites about a third of the trust's case rows (the snapshot changes with every
decision). On pages filled whole, each new version went to another page, so each was also a new
entry in the table's three indexes; with room left on the page the update is a heap-only one
(none of the indexed columns, id, school and pupil, school and status, changes on most
evenings). Measured on the benchmark trust's day (4,113 rows): 0.18-0.22 -> 0.09-0.11 server
CPU-s, WAL 25 -> 21 MB. Pages written from now on keep the room; pages already full gain it as
their dead versions are pruned (no rewrite here: a rewrite holds the table locked).

Not lz4 for the letters' texts (measured: half pglz's CPU on the letters' ``COPY``, 0.05 CPU-s
a day): a ``pg_dump`` of the database would then carry ``SET COMPRESSION lz4``, which a server
built without lz4 refuses on restore, and a backup must restore wherever PostgreSQL runs.

SQLite has no such setting: nothing is changed there.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE cases SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE cases RESET (fillfactor)")
