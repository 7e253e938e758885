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
from escalation_flow.adapters.store.case_writer import HistoryWriter, insert_universal_tasks
from escalation_flow.adapters.store.cases import CASES, EVENTS, TASKS, TIMERS
from escalation_flow.core.school_cases import UniversalTask
from escalation_flow.errors import ConflictError
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
        patch.setattr(pg_rows, "BATCH_FROM", copy_from)
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


def _by_key(conn: sa.Connection, table: sa.Table, status: str) -> list[dict[str, Any]]:
    """(case, key) of every row of ``table`` with ``status``, as the writer binds them, after
    four more such rows a case (timers due before and after the writer's now)."""
    c = table.c
    day = date(2025, 9, 22)
    for n, case in enumerate(conn.execute(sa.select(CASES.c.id, CASES.c.school_id, CASES.c.pupil))):
        for k in range(4):
            fire_at = datetime(2025, 9, 22, 16 + k, 7 * n, 3 * k, tzinfo=UTC)
            if table is TIMERS:
                values = {
                    "timer": "t", "due": day, "fire_at": fire_at, "rule": "r",
                    "calendar_version": "c", "armed_at": fire_at,
                }  # fmt: skip
            else:
                values = {
                    "pupil": case.pupil, "task": "t", "role": "r", "kind": "call",
                    "approval": False, "due": day, "created_on": day, "created_at": fire_at,
                }  # fmt: skip
            conn.execute(
                sa.insert(table).values(
                    case_id=case.id, school_id=case.school_id, key=f"seeded-{k}",
                    status=status, **values,
                )
            )  # fmt: skip
    found = sa.select(c.case_id, c.key).where(c.status == status, c.case_id.is_not(None))
    rows = conn.execute(found.order_by(c.id))
    return [{"b_case": r.case_id, "b_key": r.key} for r in rows]


def _executes(conn: sa.Connection) -> list[bool]:
    """From now on, one entry a statement the connection sends: whether an ``executemany``."""
    sent: list[bool] = []

    def count(*args: Any) -> None:
        sent.append(bool(args[-1]))

    sa.event.listen(conn, "before_cursor_execute", count)
    return sent


def _writer(conn: sa.Connection) -> HistoryWriter:
    now = datetime(2025, 9, 22, 18, 5, 30, tzinfo=ZoneInfo("Europe/London"))
    return HistoryWriter(
        conn, school_id=1, school="s", flow="f", flow_version="v", now=now, worker="w-9"
    )


@pytest.mark.parametrize("write", ["fire", "cancel", "supersede"])
def test_timers_and_tasks_written_by_key_go_as_one_statement_and_leave_the_rows_one_by_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """Timers fired or cancelled and tasks superseded by a school day: one ``UPDATE`` from
    arrays on PostgreSQL (not a bind and execute a row), the same rows as the ``executemany``
    (the lateness worked out alike); a row no longer pending or open is still a conflict."""
    states = built_state("postgresql", tmp_path)
    store = Store(next(states))
    table, status = (TASKS, "open") if write == "supersede" else (TIMERS, "pending")
    try:
        got = []
        for batch_from in (10**9, 2):
            monkeypatch.setattr(pg_rows, "BATCH_FROM", batch_from)
            with store.engine.connect() as conn, conn.begin() as tx:
                rows = _by_key(conn, table, status)
                assert len(rows) >= 3, "the eight school days left rows to write"
                writer = _writer(conn)
                executes = _executes(conn)
                if write == "fire":
                    writer._fire_timers(rows)
                elif write == "cancel":
                    writer._cancel_timers(rows)
                else:
                    writer._supersede([{**r, "b_why": f"why {r['b_key']}"} for r in rows])
                sent = list(executes)
                written = conn.execute(sa.select(table).order_by(table.c.id))
                got.append([tuple(r)[1:] for r in written])  # the seeded rows' ids differ
                tx.rollback()
            assert sent == ([False] if batch_from == 2 else [True])
        assert got[0] == got[1]
        for batch_from in (10**9, 2):  # one row already written by another: nothing is
            monkeypatch.setattr(pg_rows, "BATCH_FROM", batch_from)
            with store.engine.connect() as conn, conn.begin() as tx:
                rows = _by_key(conn, table, status)
                conn.execute(
                    sa.update(table)
                    .where(table.c.case_id == rows[1]["b_case"], table.c.key == rows[1]["b_key"])
                    .values(status="cancelled" if table is TIMERS else "done")
                )
                writer = _writer(conn)
                with pytest.raises(ConflictError):
                    if write == "fire":
                        writer._fire_timers(rows)
                    elif write == "cancel":
                        writer._cancel_timers(rows)
                    else:
                        writer._supersede([{**r, "b_why": "w"} for r in rows])
                tx.rollback()
    finally:
        store.dispose()
        next(states, None)


def test_tasks_without_a_case_go_as_one_insert_their_ids_in_order_a_taken_key_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first-day calls and duties' tasks: one ``INSERT ... SELECT`` from arrays on
    PostgreSQL, ids drawn in the tasks' order, a task whose (school, pupil, key) is taken (or
    given twice) left out, as the row-by-row ``ON CONFLICT DO NOTHING`` leaves it."""
    states = built_state("postgresql", tmp_path)
    store = Store(next(states))
    day = date(2025, 9, 22)
    now = datetime(2025, 9, 22, 18, 0, tzinfo=UTC)
    tasks = [
        UniversalTask(on=day, pupil=f"P{i}", task="call", role="office", due=day) for i in range(5)
    ]
    tasks += [tasks[2], UniversalTask(on=day, pupil="", task="duty", role="head", due=day,
                                      covers=("P1", "P3"))]  # fmt: skip
    try:
        got = []
        for batch_from in (10**9, 2):
            monkeypatch.setattr(pg_rows, "BATCH_FROM", batch_from)
            with store.engine.connect() as conn, conn.begin() as tx:
                first = insert_universal_tasks(conn, 1, tasks[:1], {"call": "call"}, now)
                executes = _executes(conn)
                n = insert_universal_tasks(conn, 1, tasks, {"call": "call"}, now)
                assert first == 1 and n == len(tasks)
                assert executes == ([False] if batch_from == 2 else [True])
                made = conn.execute(
                    sa.select(TASKS).where(TASKS.c.created_at == now).order_by(TASKS.c.id)
                ).all()
                ids = [r.id for r in made]
                got.append([(i - ids[0], *tuple(r)[1:]) for i, r in zip(ids, made, strict=True)])
                assert [r.pupil for r in made] == ["P0", "P1", "P2", "P3", "P4", ""]
                assert ids == sorted(ids)
                tx.rollback()
        assert got[0] == got[1]
    finally:
        store.dispose()
        next(states, None)
