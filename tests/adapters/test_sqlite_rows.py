"""On SQLite the history writer's records and case rows go by the driver's ``executemany``:
what it stores is what SQLAlchemy's statements stored, over a backtest year of cases written
day by day, and a case changed by someone else meanwhile is still refused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store, sqlite_rows
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.core.case import Case, apply
from escalation_flow.core.chain import GENESIS
from escalation_flow.core.decisions import Decision
from escalation_flow.errors import ConflictError
from escalation_flow.stored import ENGINE, CaseChange, StoredCase
from tests.adapters.test_history_text import year

TABLES = ("cases", "case_events", "tasks", "timers")


def write_year(path: Path, *, driver: bool) -> None:
    """The year's decisions written a school day at a time, as evenings write them."""
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schools (key, name) VALUES ('s', 'S')"))
    held: dict[str, StoredCase] = {}
    by_day: dict[object, list[tuple[str, list[Decision]]]] = {}
    for pupil, history in year():
        for d in history:
            days = by_day.setdefault(d.on, [])
            if days and days[-1][0] == pupil:
                days[-1][1].append(d)
            else:
                days.append((pupil, [d]))
    with pytest.MonkeyPatch.context() as patch:
        if not driver:
            patch.setattr(sqlite_rows, "many", lambda conn, rows: False)
        for day, decided in sorted(by_day.items()):  # type: ignore[type-var]
            now = datetime.combine(day, time(17, 30), tzinfo=UTC)  # type: ignore[arg-type]
            changes = []
            for pupil, decisions in decided:
                before = held.get(pupil) or StoredCase(None, Case("s", pupil))
                after = before.case
                for d in decisions:
                    after = apply(after, d)
                changes.append(CaseChange(before, decisions, after, ENGINE))
            with store.engine.begin() as conn:
                written = HistoryWriter(
                    conn, school_id=1, school="s", flow="f", flow_version="v", now=now,
                    worker="w",
                ).write(changes)  # fmt: skip
            for change in changes:
                pupil = change.after.pupil
                held[pupil] = StoredCase(
                    written.case_ids[pupil], change.after, written.heads[pupil]
                )
    store.dispose()


def rows_of(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}


def test_a_year_written_by_the_driver_is_stored_as_sqlalchemy_stored_it(tmp_path: Path) -> None:
    write_year(tmp_path / "driver.sqlite", driver=True)
    write_year(tmp_path / "sqlalchemy.sqlite", driver=False)
    quick, slow = rows_of(tmp_path / "driver.sqlite"), rows_of(tmp_path / "sqlalchemy.sqlite")
    assert len(quick["case_events"]) > 500 and len(quick["cases"]) > 20
    assert quick == slow


def test_a_case_another_writer_moved_on_is_refused_whole(tmp_path: Path) -> None:
    write_year(tmp_path / "y.sqlite", driver=True)
    store = Store(f"sqlite:///{tmp_path / 'y.sqlite'}")
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, pupil, length FROM cases LIMIT 1")).one()
    stale = StoredCase(row.id, Case("s", row.pupil, length=row.length - 1), GENESIS)
    opened = year()[0][1][0]
    change = CaseChange(stale, [opened], apply(stale.case, opened), ENGINE)
    now = datetime(2026, 3, 30, 17, tzinfo=UTC)
    before = rows_of(tmp_path / "y.sqlite")
    with pytest.raises(ConflictError), store.engine.begin() as conn:
        HistoryWriter(
            conn, school_id=1, school="s", flow="f", flow_version="v", now=now, worker="w"
        ).write([change])
    store.dispose()
    assert rows_of(tmp_path / "y.sqlite") == before


def test_a_column_sqlalchemy_would_fill_in_cannot_be_left_out() -> None:
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.Integer), sa.Column("b", sa.Integer, default=1, onupdate=2),
    )  # fmt: skip
    engine = sa.create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="b would be left without its default"):
            sqlite_rows.insert_rows(conn, table, ("a",), [(1,)])
        with pytest.raises(ValueError, match="b would be left without its onupdate"):
            sqlite_rows.update_rows(conn, table, ("a",), ("id",), [(1, 1)])
        assert sqlite_rows.insert_rows(conn, table, ("a", "b"), [(1, 5), (2, 6)]) == 2
        assert sqlite_rows.update_rows(conn, table, ("a", "b"), ("id",), [(3, 7, 1)]) == 1
        assert conn.execute(sa.select(table).order_by(table.c.id)).all() == [(1, 3, 7), (2, 2, 6)]
