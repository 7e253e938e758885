"""Tables of the termly targeting meeting and the local authority's monthly notifications.

- ``meeting_actions``: append-only; one row per action agreed for a pupil at a school's termly
  targeting meeting (the term's key, e.g. ``autumn-2025``), who recorded it and when.
- ``la_notifications``: append-only; one row per monthly notification recorded as sent: the
  month, the pupils it named (one per line), the sha256 of the CSV sent, who and when.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base


class MeetingAction(Base):
    __tablename__ = "meeting_actions"
    __table_args__ = (Index(None, "school", "term"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school: Mapped[str] = mapped_column(String(64), comment="school key")
    term: Mapped[str] = mapped_column(String(20), comment="e.g. autumn-2025")
    pupil: Mapped[str] = mapped_column(String(64), comment="pupil MIS id")
    action: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime]


class LaNotification(Base):
    __tablename__ = "la_notifications"
    __table_args__ = (Index(None, "school", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school: Mapped[str] = mapped_column(String(64), comment="school key")
    month: Mapped[str] = mapped_column(String(7), comment="YYYY-MM")
    pupils: Mapped[str] = mapped_column(Text, comment="the pupils named, one per line")
    digest: Mapped[str] = mapped_column(String(64), comment="sha256 of the CSV sent")
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime]
