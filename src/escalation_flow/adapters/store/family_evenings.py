"""The ``family_evenings`` tables: what each school's evening left for the facts across a family.

One ``family_evenings`` row per (school, school day), written in the transaction that records
the school day, and never changed: a forced re-run of that evening keeps the first write, so
what another school's evening (or a replay) read from it stays what it read. Its
``family_evening_pupils`` are the pupils with an open case or unauthorised sessions over the last
10 school weeks (an absent pupil: no open case, 0 sessions); an evening with none still has its
header, since "this school has had an evening" is itself read (``core.family_facts``).

Each evening is also a record (``family_evening``) on its school's evenings chain of later
records (``school:<key>/evenings``, ``records``): the day, how many pupils, and a digest of the rows, so ``audit verify`` names an
evening edited, added or deleted behind the service's back (``audit/evening_check``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store import pg_rows, records
from escalation_flow.adapters.store.models import Base, School, table_of
from escalation_flow.core.chain import canonical_json, school_chain, sha256_text
from escalation_flow.core.family_facts import EveningRow, SchoolEvening, evening_of, kept_rows

FAMILY_EVENING = "family_evening"


class FamilyEvening(Base):
    __tablename__ = "family_evenings"
    __table_args__ = (UniqueConstraint("school_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(
        comment="the start of the evening that wrote it (the first run's, never updated)"
    )


class FamilyEveningPupil(Base):
    __tablename__ = "family_evening_pupils"

    evening_id: Mapped[int] = mapped_column(ForeignKey("family_evenings.id"), primary_key=True)
    pupil: Mapped[str] = mapped_column(String(64), primary_key=True)
    open_case: Mapped[bool] = mapped_column(Boolean)
    unauthorised: Mapped[float | None] = mapped_column(
        Float, comment="unauthorised sessions over the last 10 school weeks (NULL: unknown)"
    )


EVENINGS = table_of(FamilyEvening)
PUPILS = table_of(FamilyEveningPupil)


def record_family_evening(
    conn: Connection, school_id: int, day: dt.date, now: dt.datetime, evening: SchoolEvening
) -> bool:
    """Write the school's evening of ``day`` unless one is stored (first write kept); whether
    it was written."""
    e = EVENINGS.c
    found = conn.execute(
        select(e.id).where(e.school_id == school_id, e.day == day)
    ).scalar_one_or_none()
    if found is not None:
        return False
    evening_id = conn.execute(
        insert(EVENINGS).values(school_id=school_id, day=day, recorded_at=now).returning(e.id)
    ).scalar_one()
    kept = kept_rows(evening)
    rows = [
        {"evening_id": evening_id, "pupil": pupil, "open_case": is_open, "unauthorised": value}
        for pupil, is_open, value in kept
    ]
    if pg_rows.many(conn, rows):  # a school's evening keeps most of its pupils
        pg_rows.copy_dicts(conn, PUPILS, rows)
    elif rows:
        conn.execute(insert(PUPILS), rows)
    records.append(conn, [evening_record(evening.school, day, kept, now)], now)
    return True


def evening_subject(day: dt.date) -> str:
    return f"evening {day.isoformat()}"


def evening_digest(rows: list[EveningRow]) -> str:
    """The sha256 of an evening's kept rows, in pupil order."""
    return sha256_text(canonical_json([list(r) for r in sorted(rows)]))


def evening_record(
    school: str, day: dt.date, rows: list[EveningRow], at: dt.datetime
) -> records.NewRecord:
    """The chain record of a school's evening: no pupil's data, a digest of the rows."""
    body = {"day": day.isoformat(), "pupils": len(rows), "sha256": evening_digest(rows)}
    return records.NewRecord(evenings_chain(school), FAMILY_EVENING, evening_subject(day), body, at)


def evenings_chain(school: str) -> str:
    """A school's evenings chain apart from its tasks and audit entries (``school:<key>``):
    an evening never waits on a task's completion for the chain's lock, and the end of the
    school's chain stays what a staff action last wrote."""
    return f"{school_chain(school)}/evenings"


def stored_evenings(conn: Connection) -> list[tuple[str, dt.date, list[EveningRow]]]:
    """Every kept evening: (school, day, its rows), in (school, day) order."""
    e, p, s = EVENINGS.c, PUPILS.c, table_of(School).c
    query = (
        select(s.key, e.day, p.pupil, p.open_case, p.unauthorised)
        .select_from(EVENINGS)
        .join(table_of(School), s.id == e.school_id)
        .outerjoin(PUPILS, p.evening_id == e.id)
        .order_by(s.key, e.day, p.pupil)
    )
    out: dict[tuple[str, dt.date], list[EveningRow]] = {}
    for key, day, pupil, is_open, value in conn.execute(query):
        rows = out.setdefault((str(key), day), [])
        if pupil is not None:
            rows.append((str(pupil), bool(is_open), None if value is None else float(value)))
    return [(school, day, rows) for (school, day), rows in out.items()]


def family_evenings(conn: Connection, before: dt.date, cut: dt.datetime) -> list[SchoolEvening]:
    """Per school, its latest evening of a day before ``before`` recorded before ``cut``."""
    schools = table_of(School)
    e, p, s = EVENINGS.c, PUPILS.c, schools.c
    latest = (
        select(e.school_id, func.max(e.day).label("day"))
        .where(e.day < before, e.recorded_at < cut)
        .group_by(e.school_id)
        .subquery()
    )
    query = (
        select(s.key, p.pupil, p.open_case, p.unauthorised)
        .select_from(EVENINGS)
        .join(latest, (latest.c.school_id == e.school_id) & (latest.c.day == e.day))
        .join(schools, s.id == e.school_id)
        .outerjoin(PUPILS, p.evening_id == e.id)
    )
    by_school: dict[str, list[EveningRow]] = defaultdict(list)
    for key, pupil, is_open, value in conn.execute(query):
        rows = by_school[str(key)]
        if pupil is not None:
            rows.append((str(pupil), bool(is_open), None if value is None else float(value)))
    return [evening_of(key, rows) for key, rows in sorted(by_school.items())]
