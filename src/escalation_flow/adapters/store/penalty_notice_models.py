"""The ``penalty_notices`` table: every version of every notice in the register, never updated.

A notice is recorded as version 1; a status change adds the next version of the same ``notice``
(its register number). Each row is chained (``chain_records``, kind ``penalty_notice``) in the
transaction that writes it, so ``audit verify`` finds a row changed after it was written.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base


class PenaltyNoticeRow(Base):
    __tablename__ = "penalty_notices"
    __table_args__ = (UniqueConstraint("notice", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice: Mapped[int] = mapped_column(Integer, comment="the register's number for the notice")
    version: Mapped[int] = mapped_column(Integer, comment="1 when recorded, +1 per change")
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    pupil: Mapped[str] = mapped_column(String(64), comment="the pupil's MIS id")
    parent: Mapped[str] = mapped_column(String(64), comment="the contact id of the parent")
    kind: Mapped[str] = mapped_column(String(30), comment="penalty_notice, notice_to_improve")
    offence: Mapped[str] = mapped_column(String(30))
    sessions: Mapped[str] = mapped_column(
        Text, comment="JSON [[date, AM|PM, mark as known when recorded], ...]"
    )
    issued_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    amount_reduced: Mapped[int | None] = mapped_column(Integer, comment="pounds within 21 days")
    amount_full: Mapped[int | None] = mapped_column(Integer, comment="pounds within 28 days")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(String(500))
