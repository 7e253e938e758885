"""Tables of the audit: the text of every flow version a case used, and seals over the marks.

- ``flow_versions``: a flow file's exact text under its version (the sha256 of that text), kept
  from the first time a case used it, so a replay re-runs each decision under the flow it was
  taken under even after the school changed its file. The text hashes to its key: an edited row
  shows.
- ``mark_seals``: marks are not hash-chained row by row (millions a year); instead each import's
  rows of one school are sealed once, right after the import: their count, a sha256 over them
  all, and a fingerprint per row (8 bytes: 4 of the session's identity, 4 of the whole row, so a
  row edited, deleted or added afterwards can be named). Seals are chained per school like a
  case's history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base


class FlowVersionRow(Base):
    __tablename__ = "flow_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True, comment="sha256 of yaml")
    flow: Mapped[str] = mapped_column(String(100), comment="the flow's id")
    yaml: Mapped[str] = mapped_column(Text, comment="the flow file, byte for byte (UTF-8)")
    first_seen: Mapped[dt.datetime]


class MarkSealRow(Base):
    __tablename__ = "mark_seals"
    __table_args__ = (
        UniqueConstraint("school_id", "seq"),
        UniqueConstraint("school_id", "import_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    seq: Mapped[int] = mapped_column(Integer, comment="1..n per school")
    import_id: Mapped[int] = mapped_column(Integer, comment="imports.id")
    rows: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), comment="sha256 over the import's rows")
    fingerprints: Mapped[bytes] = mapped_column(LargeBinary, comment="8 bytes a row, sorted")
    sealed_at: Mapped[dt.datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
