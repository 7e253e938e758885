"""The dashboards' kept figures in the store, on SQLite and PostgreSQL: read back as kept
(a percentage not known yet included), only under the exact key they were kept under, and a
second keeping of a school's day replaces the first."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from escalation_flow.adapters.store import Store
from escalation_flow.core.school_figures import SchoolFigures
from escalation_flow.ports import FiguresKey, SchoolFiguresBook
from tests.adapters import test_store as base

blank, store, count = base.blank, base.store, base.count

NOW = datetime(2025, 10, 10, 17, tzinfo=UTC)
KEY = FiguresKey(date(2025, 10, 10), 3, "a" * 64)
FIGURES = SchoolFigures(1000, 94.56789012345678, 181, 12, 998, 4, 2)


def test_figures_read_back_exactly_as_kept_under_their_key_only(store: Store) -> None:
    assert isinstance(store, SchoolFiguresBook)
    unknown = SchoolFigures(40, math.nan, 0, 0, 0, 0, 0)
    store.keep_school_figures("oaks", KEY, FIGURES, NOW)
    store.keep_school_figures("pines", KEY, unknown, NOW)
    found = store.school_figures({"oaks": KEY, "pines": KEY})
    assert found["oaks"] == FIGURES
    assert found["pines"].pupils == 40 and math.isnan(found["pines"].attendance_pct)
    for other in (
        FiguresKey(KEY.day, 4, KEY.flow_version),
        FiguresKey(KEY.day, KEY.import_stamp, "b" * 64),
        FiguresKey(date(2025, 10, 13), KEY.import_stamp, KEY.flow_version),
    ):
        assert store.school_figures({"oaks": other}) == {}


def test_keeping_a_school_s_day_again_replaces_it(store: Store) -> None:
    store.keep_school_figures("oaks", KEY, FIGURES, NOW)
    later = FiguresKey(KEY.day, 5, KEY.flow_version)
    store.keep_school_figures("oaks", later, SchoolFigures(1001, 94.0, 180, 12, 999, 0, 0), NOW)
    assert count(store, "school_figures") == 1
    assert store.school_figures({"oaks": KEY}) == {}
    assert store.school_figures({"oaks": later})["oaks"].pupils == 1001
