"""The database tables, as typed SQLAlchemy models on one ``Base``.

Later areas add their tables (cases, history, tasks, timers) as further classes on ``Base`` and
a further migration in ``escalation_flow/migrations/versions``.

Instants are timezone-aware and stored in UTC (``UtcDateTime``). Marks are bitemporal and
append-only: their primary key is the whole identity of one version of one session's mark,
``(school, pupil, date, session, recorded_at, code)``, so importing the same file twice adds
nothing (inserts skip rows that are already there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from escalation_flow.core.marks import to_micros

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware instant stored in UTC.

    PostgreSQL: ``timestamptz``. SQLite has no time type; there it is an integer of microseconds
    since the Unix epoch (one of SQLite's documented forms for time): exact, compact, and
    compared as a number, which matters for "as known at" queries over millions of marks.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("instants stored in the database must be timezone-aware")
        return to_micros(value) if dialect.name == "sqlite" else value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return _EPOCH + dt.timedelta(microseconds=int(value))
        instant: dt.datetime = value
        return instant.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime()}


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for bulk statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, comment="the id used in files")
    name: Mapped[str] = mapped_column(String(200))
    urn: Mapped[str | None] = mapped_column(String(20), unique=True)


class Pupil(Base):
    """A pupil of one school; the roster fields are empty until a roster is imported."""

    __tablename__ = "pupils"
    __table_args__ = (UniqueConstraint("school_id", "mis_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    mis_id: Mapped[str] = mapped_column(String(64), comment="the pupil id in the MIS")
    forename: Mapped[str | None] = mapped_column(String(100))
    surname: Mapped[str | None] = mapped_column(String(100))
    year_group: Mapped[str | None] = mapped_column(String(20))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    admitted_on: Mapped[dt.date | None] = mapped_column(Date)
    left_on: Mapped[dt.date | None] = mapped_column(Date)


class Import(Base):
    """One file taken in: who, when, which bytes, and what came of it."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), comment="marks or roster")
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, comment="data rows read")
    accepted: Mapped[int] = mapped_column(Integer, comment="rows that passed the checks")
    imported: Mapped[int] = mapped_column(Integer, comment="rows that were new to the store")
    rejected: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]
    imported_by: Mapped[str] = mapped_column(String(100))
    # How an import of marks was sealed (``audit verify`` fails a missing seal unless no_seal).
    seal: Mapped[str | None] = mapped_column(
        String(12),
        comment="marks: sealed (at import), no_seal (--no-seal, not sealed yet), "
        "sealed_later (by audit seal) or forced (audit seal --force)",
    )


class Mark(Base):
    """One version of one session's register mark, as the MIS recorded it. Never updated.

    No foreign keys, on purpose: marks are written only by ``Store.import_marks``, which writes
    the school, pupil and import rows they name first, in the same transaction. Row-by-row key
    checks would cost more than the insert itself (measured on PostgreSQL: about 15 µs per row
    per key, against 8 µs for the insert), for a table that takes millions of rows a year.
    """

    __tablename__ = "marks"
    # Without a rowid the primary key is the table: one b-tree, rows of a school stored together.
    __table_args__ = ({"sqlite_with_rowid": False},)

    school_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="schools.id")
    pupil_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="pupils.id")
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    session: Mapped[str] = mapped_column(String(2), primary_key=True, comment="AM or PM")
    recorded_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    # compared by its bytes on PostgreSQL as on SQLite: the load order's last key (0022)
    code: Mapped[str] = mapped_column(
        String(4).with_variant(String(4, collation="C"), "postgresql"), primary_key=True
    )
    minutes_late: Mapped[int | None] = mapped_column(SmallInteger)
    imported_at: Mapped[dt.datetime]
    import_id: Mapped[int] = mapped_column(Integer, comment="imports.id")
    # Not in the key: a version is its session, time and code; who entered it describes it.
    recorded_by: Mapped[str | None] = mapped_column(
        String(100), comment="the MIS user who recorded or amended the mark; NULL: not given"
    )
