"""The ``restores`` table: one row each time a backup was restored over this database.

Written by ``escalation-flow restore`` into the database it has just restored, so the row
survives with the data it explains. It carries the backup's checkpoint byte for byte, and so
its sha256: ``audit verify --against`` a checkpoint made after that backup (and before the
restore) tells what the restore took back from what someone deleted only with
``--restored-from`` the copy of that checkpoint the auditor holds, whose sha256 must be the
row's. The row alone excuses nothing: anyone who can write the database can insert one. It is
not chained: a checkpoint made after the restore names the records written since, and one made
before it cannot know the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, String, Text, insert, inspect, select
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base, table_of


class RestoreRow(Base):
    __tablename__ = "restores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    restored_at: Mapped[dt.datetime]
    backup_created_at: Mapped[dt.datetime]
    backup_file: Mapped[str] = mapped_column(String(500))
    database_sha256: Mapped[str] = mapped_column(String(64))
    checkpoint: Mapped[str] = mapped_column(Text, comment="the backup's checkpoint (JSON)")
    replaced: Mapped[str] = mapped_column(Text, comment="what was replaced beyond the backup")


RESTORES = table_of(RestoreRow)


@dataclass(frozen=True)
class Restore:
    """One restore, as recorded."""

    restored_at: dt.datetime
    backup_created_at: dt.datetime
    backup_file: str
    database_sha256: str
    checkpoint: str
    replaced: str


def record_restore(conn: Connection, restore: Restore) -> None:
    """Append the row, in the connection's transaction."""
    conn.execute(
        insert(RESTORES).values(
            restored_at=restore.restored_at,
            backup_created_at=restore.backup_created_at,
            backup_file=restore.backup_file,
            database_sha256=restore.database_sha256,
            checkpoint=restore.checkpoint,
            replaced=restore.replaced,
        )
    )


def restores(conn: Connection) -> list[Restore]:
    """Every restore recorded, oldest first; none in a database older than the table."""
    if not inspect(conn).has_table(RESTORES.name):
        return []
    rows = conn.execute(select(RESTORES).order_by(RESTORES.c.restored_at, RESTORES.c.id))
    return [
        Restore(
            r.restored_at,
            r.backup_created_at,
            r.backup_file,
            r.database_sha256,
            r.checkpoint,
            r.replaced,
        )
        for r in rows
    ]


def carried_sha256(restore: Restore) -> str:
    """The sha256 of the checkpoint the row carries, as ``sha256sum`` gives it of the backup's
    ``FILE.checkpoint.json``: what binds the auditor's copy to this restore."""
    return hashlib.sha256(restore.checkpoint.encode("utf-8")).hexdigest()
