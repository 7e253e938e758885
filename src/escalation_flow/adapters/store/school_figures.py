"""The ``school_figures`` table: each school's headline figures per school day, under the key
they were counted from (``ports.FiguresKey``), read back only under that same key; and the
``school_pages`` table beside it (migration 0021): the school dashboard's register figures
(``ports.SchoolPage``) under the same kind of key."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Date, Double, ForeignKey, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store.models import Base, School, table_of
from escalation_flow.core.school_figures import SchoolFigures
from escalation_flow.core.school_weeks import WeekFigures
from escalation_flow.ports import FiguresKey, SchoolPage


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


#: How far back a school's kept pages stay (a weekend and a holiday week the pages may still
#: show from the evening before them, with room to spare).
PAGES_KEPT_FOR = dt.timedelta(days=21)


class SchoolPageRow(Base):
    """The school dashboard's register figures (``ports.SchoolPage``) per school and school day,
    as one JSON document: read whole, never queried inside."""

    __tablename__ = "school_pages"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    import_stamp: Mapped[int] = mapped_column(Integer)
    flow_version: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    counted_at: Mapped[dt.datetime]


def read_page(conn: Connection, school_id: int, key: FiguresKey) -> SchoolPage | None:
    row = table_of(SchoolPageRow).c
    found = conn.execute(
        select(row.import_stamp, row.flow_version, row.body).where(
            (row.school_id == school_id) & (row.day == key.day)
        )
    ).first()
    if found is None or (found.import_stamp, found.flow_version) != (
        key.import_stamp,
        key.flow_version,
    ):
        return None
    return _page(json.loads(found.body))


def keep_page(
    conn: Connection, school_id: int, key: FiguresKey, page: SchoolPage, now: dt.datetime
) -> None:
    table = table_of(SchoolPageRow)
    # that day's row replaced; and the school's rows of days long past dropped: a page reads only
    # the day it counts from now, and a row is about 100 KB a school (the headline figures,
    # a few numbers, stay for the year)
    stale = (table.c.day == key.day) | (table.c.day < key.day - PAGES_KEPT_FOR)
    conn.execute(delete(table).where((table.c.school_id == school_id) & stale))
    conn.execute(
        table.insert().values(
            school_id=school_id,
            day=key.day,
            import_stamp=key.import_stamp,
            flow_version=key.flow_version,
            body=json.dumps(_document(page), separators=(",", ":")),
            counted_at=now,
        )
    )


# NaN (not known) is JSON's null both ways, so the document is standard JSON on either dialect


def _document(page: SchoolPage) -> dict[str, Any]:
    return {
        "pupils": list(page.pupils),
        "columns": {name: _out(values) for name, values in page.columns.items()},
        "this_year": _weeks_out(page.this_year),
        "last_year": None if page.last_year is None else _weeks_out(page.last_year),
    }


def _page(doc: dict[str, Any]) -> SchoolPage:
    last = doc["last_year"]
    return SchoolPage(
        pupils=tuple(doc["pupils"]),
        columns={name: _in(values) for name, values in doc["columns"].items()},
        this_year=_weeks_in(doc["this_year"]),
        last_year=None if last is None else _weeks_in(last),
    )


def _weeks_out(weeks: WeekFigures) -> dict[str, Any]:
    return {
        "year": weeks.year,
        "attendance_pct": _out(weeks.attendance_pct),
        "persistent_pct": _out(weeks.persistent_pct),
    }


def _weeks_in(doc: dict[str, Any]) -> WeekFigures:
    return WeekFigures(doc["year"], _in(doc["attendance_pct"]), _in(doc["persistent_pct"]))


def _out(values: Sequence[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


def _in(values: Sequence[float | None]) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in values)
