"""On PostgreSQL the history writer copies many rows (``pg_rows``: ``COPY``, ids drawn from the
sequences first) where it inserted them one by one, and updates many case rows with one
statement where it updated them one by one: the store it leaves must be the same, row for row
and id for id, and a row another writer took or changed is still a conflict."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError

from escalation_flow.adapters.store import Store, pg_rows
from escalation_flow.adapters.store.case_statements import statements
from escalation_flow.adapters.store.cases import CASES, EVENTS
from tests.daemon_builders import built_state

pytestmark = pytest.mark.postgres

TABLES = (
    "cases", "case_events", "tasks", "timers", "letters", "chain_records", "school_days",
    "family_evenings", "family_evening_pupils",
)  # fmt: skip


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
                for t in TABLES
            }
    finally:
        engine.dispose()


def _built(
    folder: Path, copy_from: int, monkeypatch: pytest.MonkeyPatch, copies: list[str]
) -> Iterator[str]:
    copy_rows = pg_rows.copy_rows

    def counted(conn: sa.Connection, table: sa.Table, *args: Any) -> None:
        copies.append(table.name)
        copy_rows(conn, table, *args)

    with monkeypatch.context() as patch:
        patch.setattr(pg_rows, "COPY_FROM", copy_from)
        patch.setattr(pg_rows, "copy_rows", counted)
        states = built_state("postgresql", folder)
        url = next(states)
    yield url
    next(states, None)  # drops the database


def test_copied_rows_leave_the_store_the_inserted_rows_leave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "copied").mkdir()
    (tmp_path / "inserted").mkdir()
    copies: list[str] = []
    inserted = _built(tmp_path / "inserted", 10**9, monkeypatch, copies)  # no write copied
    copied = _built(tmp_path / "copied", 1, monkeypatch, copies)  # every write of a row or more
    try:
        by_insert = _rows(next(inserted))
        assert not copies
        by_copy = _rows(next(copied))
    finally:
        for states in (copied, inserted):
            next(states, None)
    assert by_copy["case_events"], "the eight school days decided something"
    assert by_copy["tasks"] and by_copy["letters"]
    assert by_copy["family_evening_pupils"]
    copied_tables = {"case_events", "cases", "tasks", "letters", "chain_records"}
    assert copied_tables | {"family_evening_pupils"} <= set(copies)
    assert by_copy == by_insert


def test_a_copied_row_whose_key_another_writer_took_is_an_integrity_error(
    tmp_path: Path,
) -> None:
    states = built_state("postgresql", tmp_path)
    url = next(states)
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            taken = conn.execute(sa.select(EVENTS).limit(1)).mappings().one()
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            pg_rows.copy_dicts(conn, EVENTS, [{k: v for k, v in taken.items() if k != "id"}])
    finally:
        store.dispose()
        next(states, None)


def test_new_ids_are_drawn_in_order_from_the_table_sequence_and_the_next_default_follows(
    tmp_path: Path,
) -> None:
    states = built_state("postgresql", tmp_path)
    store = Store(next(states))
    try:
        with store.engine.begin() as conn:
            ids = pg_rows.new_ids(conn, CASES, 5)
            following = pg_rows.new_ids(conn, CASES, 1)
            drawn = conn.execute(
                sa.text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")
            ).scalar_one()
        assert ids == list(range(ids[0], ids[0] + 5))
        assert following == [ids[-1] + 1] and drawn == ids[-1] + 2
        assert pg_rows.new_ids(conn, CASES, 0) == []
    finally:
        store.dispose()
        next(states, None)


def _case_updates(conn: sa.Connection) -> list[dict[str, Any]]:
    """A new value for every column the writer sets, of every case (NULL dates among them)."""
    later = datetime(2025, 9, 20, 17, 30, tzinfo=ZoneInfo("Europe/London"))
    return [
        {
            "b_id": r.id, "b_length": r.length, "flow": f"{r.flow}-x", "flow_version": "v9",
            "status": "closed", "stage": r.id % 3, "state": f"moved {r.id}",
            "opened_on": None if r.id % 2 else r.opened_on, "closed_on": date(2025, 9, 19),
            "updated_at": later, "length": r.length + 2, "head_hash": f"{r.id:064d}",
            "snapshot": None if r.id % 2 else f'{{"id": {r.id}}}',
        }
        for r in conn.execute(sa.select(CASES).order_by(CASES.c.id))
    ]  # fmt: skip


def test_case_rows_updated_in_one_statement_are_the_rows_updated_one_by_one(
    tmp_path: Path,
) -> None:
    """``pg_rows.update_rows`` against the writer's ``executemany``; its rowcount is what the
    writer compares (``ConflictError`` when short): a row whose length another writer changed
    is neither updated nor counted."""
    states = built_state("postgresql", tmp_path)
    url = next(states)
    store = Store(url)
    match = {"id": "b_id", "length": "b_length"}
    try:
        got = []
        for one_statement in (False, True):
            with store.engine.connect() as conn, conn.begin() as tx:
                rows = _case_updates(conn)
                assert rows, "the eight school days opened a case"
                rows[0]["b_length"] += 1  # as if another writer had appended to it
                columns = [k for k in rows[0] if k not in match.values()]
                if one_statement:
                    changed = pg_rows.update_rows(conn, CASES, match, columns, rows)
                else:
                    changed = conn.execute(statements().case, rows).rowcount
                assert changed == len(rows) - 1
                got.append(list(conn.execute(sa.select(CASES).order_by(CASES.c.id))))
                tx.rollback()
        assert [tuple(r) for r in got[0]] == [tuple(r) for r in got[1]]
        moved = [r.state.startswith("moved") for r in got[1]]
        assert moved == [False] + [True] * (len(moved) - 1) and len(moved) >= 2
    finally:
        store.dispose()
        next(states, None)


def test_an_instant_without_a_zone_is_refused_before_it_is_copied() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        pg_rows.utc(datetime(2025, 9, 3, 16, 30))
    london = datetime(2025, 9, 3, 17, 30, tzinfo=ZoneInfo("Europe/London"))
    assert pg_rows.utc(london) == datetime(2025, 9, 3, 16, 30, tzinfo=UTC)


def test_a_value_too_long_for_its_column_is_refused_by_one_statement_as_one_by_one(
    tmp_path: Path,
) -> None:
    """The arrays are cast to the columns' types without their lengths: cast to ``VARCHAR(200)``
    a longer state would be cut silently (PostgreSQL truncates on an explicit cast), where the
    row-by-row ``UPDATE`` refuses it."""
    states = built_state("postgresql", tmp_path)
    url = next(states)
    store = Store(url)
    match = {"id": "b_id", "length": "b_length"}
    try:
        for one_statement in (False, True):
            with store.engine.connect() as conn, conn.begin() as tx:
                rows = _case_updates(conn)
                rows[-1]["state"] = "s" * 201
                columns = [k for k in rows[0] if k not in match.values()]
                with pytest.raises(DataError, match="too long"):
                    if one_statement:
                        pg_rows.update_rows(conn, CASES, match, columns, rows)
                    else:
                        conn.execute(statements().case, rows)
                tx.rollback()
    finally:
        store.dispose()
        next(states, None)
