"""The school dashboard's kept figures in the store (``school_pages``, migration 0021), on
SQLite and PostgreSQL: read back exactly as kept (a fact not known, NaN, included), only under
the exact key they were kept under; a second keeping of a school's day replaces the first."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from escalation_flow.adapters.store import Store
from escalation_flow.core.school_weeks import WeekFigures
from escalation_flow.ports import FiguresKey, SchoolPage, SchoolPagesBook
from tests.adapters import test_store as base

blank, store, count = base.blank, base.store, base.count

NOW = datetime(2025, 10, 10, 17, tzinfo=UTC)
KEY = FiguresKey(date(2025, 10, 10), 3, "a" * 64)
PAGE = SchoolPage(
    pupils=("P1", "P2"),
    columns={"attendance_pct": (94.56789012345678, math.nan), "unmarked_sessions": (0.0, 3.0)},
    this_year=WeekFigures("2025-26", (96.25, math.nan), (12.5, 10.0)),
    last_year=None,
)


def _same(a: SchoolPage, b: SchoolPage) -> bool:
    def floats(x: tuple[float, ...], y: tuple[float, ...]) -> bool:
        return len(x) == len(y) and all(
            u == v or (math.isnan(u) and math.isnan(v)) for u, v in zip(x, y, strict=True)
        )

    return (
        a.pupils == b.pupils
        and a.columns.keys() == b.columns.keys()
        and all(floats(a.columns[k], b.columns[k]) for k in a.columns)
        and a.this_year.year == b.this_year.year
        and floats(a.this_year.attendance_pct, b.this_year.attendance_pct)
        and floats(a.this_year.persistent_pct, b.this_year.persistent_pct)
        and (a.last_year is None) == (b.last_year is None)
    )


def test_a_page_reads_back_exactly_as_kept_under_its_key_only(store: Store) -> None:
    assert isinstance(store, SchoolPagesBook)
    store.keep_school_page("oaks", KEY, PAGE, NOW)
    found = store.school_page("oaks", KEY)
    assert found is not None and _same(found, PAGE)
    assert store.school_page("pines", KEY) is None
    assert store.school_page("nowhere", KEY) is None
    for other in (
        FiguresKey(KEY.day, 4, KEY.flow_version),
        FiguresKey(KEY.day, KEY.import_stamp, "b" * 64),
        FiguresKey(date(2025, 10, 13), KEY.import_stamp, KEY.flow_version),
    ):
        assert store.school_page("oaks", other) is None


def test_keeping_a_school_s_day_again_replaces_it(store: Store) -> None:
    store.keep_school_page("oaks", KEY, PAGE, NOW)
    later = FiguresKey(KEY.day, 4, KEY.flow_version)
    store.keep_school_page("oaks", later, PAGE, NOW)
    assert count(store, "school_pages") == 1
    assert store.school_page("oaks", KEY) is None
    assert store.school_page("oaks", later) is not None


def test_a_school_s_pages_of_days_long_past_are_dropped(store: Store) -> None:
    store.keep_school_page("oaks", KEY, PAGE, NOW)
    store.keep_school_page("pines", KEY, PAGE, NOW)
    soon = FiguresKey(KEY.day + timedelta(days=3), KEY.import_stamp, KEY.flow_version)
    store.keep_school_page("oaks", soon, PAGE, NOW)
    assert count(store, "school_pages") == 3  # the days a page may still show stay
    later = FiguresKey(KEY.day + timedelta(days=30), KEY.import_stamp, KEY.flow_version)
    store.keep_school_page("oaks", later, PAGE, NOW)
    assert store.school_page("oaks", KEY) is None and store.school_page("oaks", soon) is None
    assert store.school_page("pines", KEY) is not None  # another school's stay
