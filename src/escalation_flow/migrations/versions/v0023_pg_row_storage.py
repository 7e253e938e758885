"""PostgreSQL's storage of the rows an evening rewrites: room on each ``cases`` page for the
row's next version, and the letters' and school pages' texts compressed by lz4.

- ``cases`` (fillfactor 70): a school day rewrites about a third of the trust's case rows (the
  snapshot changes with every decision). On pages filled whole, each new version went to
  another page, so each was also a new entry in the table's three indexes; with room left on
  the page the update is a heap-only one (none of the indexed columns, id, school and pupil,
  school and status, changes on most evenings). Measured on the benchmark trust's day (4,113
  rows): 0.18-0.22 -> 0.09-0.11 server CPU-s, WAL 25 -> 21 MB. Pages written from now on keep
  the room; pages already full gain it as their dead versions are pruned (no rewrite here: a
  rewrite holds the table locked).
- ``letters.html``, ``letters.figures``, ``school_pages.body`` (lz4, where the server was built
  with it): a letter's HTML (about 4.8 KB) went through pglz on every ``COPY``; lz4 compresses
  it in about half the server's CPU (636 letters: 0.10-0.11 -> 0.05-0.06 CPU-s). Values
  already stored stay as they are (PostgreSQL reads either), and nothing reads these columns
  other than whole.

SQLite has neither setting: nothing is changed there.

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

_COMPRESSED = (("letters", "html"), ("letters", "figures"), ("school_pages", "body"))


def _has_lz4() -> bool:
    # a server built without lz4 refuses SET COMPRESSION lz4; its enum lists only pglz
    found = op.get_bind().exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(found.scalar())


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE cases SET (fillfactor = 70)")
    if _has_lz4():
        for table, column in _COMPRESSED:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE cases RESET (fillfactor)")
    for table, column in _COMPRESSED:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
