"""The daemon's tables: cases, their append-only history, tasks, timers, letters, school days.

- ``cases``: one row per pupil of a school that ever had a case; a case re-opening is a new
  ``case_opened`` record on the same row. ``snapshot`` is the case as its history folds
  (``core.case.fold``) after record ``length``: a cache, so a school day does not re-fold every
  open case's history (a trust's open cases hold some 300,000 records by the spring term, and
  folding them takes seconds). The history stays the truth: a snapshot whose length is not the
  row's is ignored and the history folded instead.
- ``case_events``: the history, APPEND-ONLY (never updated or deleted), hash-chained per case
  (``adapters.store.history``).
- ``tasks``, ``timers``: the open and past tasks and timers, for worklists and the scheduler.
  Also derivable by folding the history; written in the same transaction as the records.
- ``letters``: a letter prepared when a letter task is created; staff approve it and record it
  sent. Nothing is ever sent by the service.
- ``school_days``: a school day's evaluation is recorded once (``run-day`` again is a no-op).

Every instant is written from the service's clock, never by a database default.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("school_id", "pupil"), Index(None, "school_id", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    pupil: Mapped[str] = mapped_column(String(64), comment="the pupil's MIS id")
    flow: Mapped[str] = mapped_column(String(100))
    flow_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), comment="open or closed")
    stage: Mapped[int] = mapped_column(Integer, comment="0 when closed")
    state: Mapped[str] = mapped_column(String(200))
    opened_on: Mapped[dt.date | None] = mapped_column(Date, comment="NULL: never opened")
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime]
    length: Mapped[int] = mapped_column(Integer, comment="history records")
    head_hash: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[str | None] = mapped_column(Text, comment="the folded case (a cache)")


class CaseEventRow(Base):
    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    on: Mapped[dt.date] = mapped_column(Date, comment="the school day")
    at: Mapped[dt.datetime] = mapped_column(comment="the decision's instant")
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text, comment="canonical JSON of Decision.to_event()")
    flow_version: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100), comment="'engine' or a staff id")
    recorded_at: Mapped[dt.datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("case_id", "key"),
        UniqueConstraint("school_id", "pupil", "key"),
        Index(None, "status", "due"),
        Index(None, "school_id", "role", "status"),
        # one school's open tasks in due order (the worklist's rows, a school at a time):
        # without it SQLite walks every school's open tasks on (status, due) for each school
        Index(None, "school_id", "status", "due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id"), comment="NULL: a universal task"
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    pupil: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(120), comment="task#n, or task@date (universal)")
    task: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    template: Mapped[str | None] = mapped_column(String(100))
    approval: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(12), comment="open, done or superseded")
    due: Mapped[dt.date] = mapped_column(Date)
    created_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    superseded_why: Mapped[str | None] = mapped_column(Text)
    covers: Mapped[str | None] = mapped_column(
        Text, comment="a school-level duty's task: the pupils it covers, comma-separated"
    )


class TimerRow(Base):
    __tablename__ = "timers"
    __table_args__ = (UniqueConstraint("case_id", "key"), Index(None, "status", "fire_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    key: Mapped[str] = mapped_column(String(120))
    timer: Mapped[str] = mapped_column(String(100))
    due: Mapped[dt.date] = mapped_column(Date)
    fire_at: Mapped[dt.datetime]
    rule: Mapped[str] = mapped_column(String(100), comment="e.g. '15 school days'")
    calendar_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), comment="pending, fired or cancelled")
    armed_at: Mapped[dt.datetime]
    fired_at: Mapped[dt.datetime | None]
    late_seconds: Mapped[int | None] = mapped_column(Integer, comment="how late it fired")
    claimed_by: Mapped[str | None] = mapped_column(String(100), comment="the worker")


class LetterRow(Base):
    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    template: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), comment="prepared, approved, sent, superseded")
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, comment="NULL until rendered")
    figures: Mapped[str] = mapped_column(Text, comment="JSON: the letter's whole context")
    prepared_at: Mapped[dt.datetime]
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[dt.datetime | None]
    sent_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[dt.datetime | None]


class SchoolDayRow(Base):
    __tablename__ = "school_days"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    evaluated_at: Mapped[dt.datetime]
    decisions: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(100))
