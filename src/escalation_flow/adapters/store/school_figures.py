"""The ``school_figures`` table: each school's headline figures per school day, under the key
they were counted from (``ports.FiguresKey``), read back only under that same key."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from sqlalchemy import Connection, Date, Double, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base, School, table_of
from escalation_flow.core.school_figures import SchoolFigures
from escalation_flow.ports import FiguresKey


class SchoolFiguresRow(Base):
    __tablename__ = "school_figures"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    import_stamp: Mapped[int] = mapped_column(Integer)
    flow_version: Mapped[str] = mapped_column(String(64))
    pupils: Mapped[int] = mapped_column(Integer)
    # SQLite keeps no NaN (it reads back as NULL): "not known" is NULL in both dialects
    attendance_pct: Mapped[float | None] = mapped_column(Double)
    persistent: Mapped[int] = mapped_column(Integer)
    severe: Mapped[int] = mapped_column(Integer)
    known: Mapped[int] = mapped_column(Integer)
    unmarked_pupils: Mapped[int] = mapped_column(Integer)
    old_n_pupils: Mapped[int] = mapped_column(Integer)
    counted_at: Mapped[dt.datetime]


_COUNTS = ("pupils", "persistent", "severe", "known", "unmarked_pupils", "old_n_pupils")


def read_figures(conn: Connection, wanted: Mapping[str, FiguresKey]) -> dict[str, SchoolFigures]:
    if not wanted:
        return {}
    row = table_of(SchoolFiguresRow).c
    days = {key.day for key in wanted.values()}
    query = (
        select(School.key.label("school"), *row)
        .join(School, School.id == row.school_id)
        .where(row.day.in_(days) & School.key.in_(list(wanted)))
    )
    out: dict[str, SchoolFigures] = {}
    for found in conn.execute(query).mappings():
        key = FiguresKey(found["day"], found["import_stamp"], found["flow_version"])
        if wanted[found["school"]] != key:
            continue
        pct = found["attendance_pct"]
        out[found["school"]] = SchoolFigures(
            attendance_pct=math.nan if pct is None else pct,
            **{name: found[name] for name in _COUNTS},
        )
    return out


def keep_figures(
    conn: Connection,
    school_id: int,
    key: FiguresKey,
    figures: SchoolFigures,
    now: dt.datetime,
) -> None:
    table = table_of(SchoolFiguresRow)
    conn.execute(delete(table).where((table.c.school_id == school_id) & (table.c.day == key.day)))
    pct = figures.attendance_pct
    conn.execute(
        table.insert().values(
            school_id=school_id,
            day=key.day,
            import_stamp=key.import_stamp,
            flow_version=key.flow_version,
            attendance_pct=None if math.isnan(pct) else pct,
            counted_at=now,
            **{name: getattr(figures, name) for name in _COUNTS},
        )
    )
