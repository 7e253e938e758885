"""On PostgreSQL the history writer copies many rows (``pg_rows``: ``COPY``, ids drawn from the
sequences first) where it inserted them one by one: the store it leaves must be the same, row
for row and id for id, and a row another writer took is still a conflict."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from escalation_flow.adapters.store import Store, pg_rows
from escalation_flow.adapters.store.cases import EVENTS
from tests.daemon_builders import built_state

pytestmark = pytest.mark.postgres

TABLES = (
    "cases", "case_events", "tasks", "timers", "letters", "chain_records", "school_days",
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
    assert {"case_events", "cases", "tasks", "letters", "chain_records"} <= set(copies)
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


def test_an_instant_without_a_zone_is_refused_before_it_is_copied() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        pg_rows.utc(datetime(2025, 9, 3, 16, 30))
    london = datetime(2025, 9, 3, 17, 30, tzinfo=ZoneInfo("Europe/London"))
    assert pg_rows.utc(london) == datetime(2025, 9, 3, 16, 30, tzinfo=UTC)
