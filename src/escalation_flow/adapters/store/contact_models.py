"""The ``contacts`` table: every version of every contact of every pupil, never updated.

A row is what one import said about one contact of one pupil, recorded at ``recorded_at`` (the
file's, or the import's time): the table is append-only and bitemporal like ``marks``, so the
contacts "as known at" any instant are each (school, pupil, contact)'s latest row recorded by
then (``core.contacts.as_known_at``). The pupil is its MIS id (a contact may arrive before the
pupil's first mark or roster row); the contact id is the MIS's, stable across the trust.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("school_id", "pupil", "contact", "recorded_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    pupil: Mapped[str] = mapped_column(String(64), comment="the pupil's MIS id")
    contact: Mapped[str] = mapped_column(String(64), comment="the contact's MIS id")
    recorded_at: Mapped[dt.datetime]
    name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(60))
    parental_responsibility: Mapped[bool] = mapped_column(Boolean)
    lives_with_pupil: Mapped[bool | None] = mapped_column(Boolean)
    address: Mapped[str] = mapped_column(String(500))
    email: Mapped[str] = mapped_column(String(254))
    telephone: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int | None] = mapped_column(SmallInteger)
    may_be_contacted: Mapped[bool | None] = mapped_column(Boolean)
    imported_at: Mapped[dt.datetime]
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))
