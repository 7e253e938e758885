"""A school's register read from PostgreSQL: the helper's read, the read in this process and
replay's agree on a database whose collation is English (codes compared by their bytes,
migration 0022), and the helper's own connection fails over to the store's (review of issue 13,
sixth round)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from escalation_flow.adapters.store import Store
from escalation_flow.core.calendar import SchoolCalendar
from tests.adapters import test_store as base
from tests.adapters.test_kept_registers import _import, _read, _same, calendar  # noqa: F401

T0 = datetime(2025, 9, 3, 18, 0, tzinfo=UTC)


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A store on a database of its own created with an English collation (ICU en-GB, as an
    English trust's server may be), migrated: oaks and pines."""
    url = base._postgres_url()
    name = f"ef_en_gb_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-GB' LOCALE 'C.UTF-8'"
        )
    made = Store(make_url(url).set(database=name))
    try:
        made.migrate()
        made.upsert_schools(base._trust("oaks", "pines"))
        yield made
    finally:
        made.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.mark.postgres
def test_a_helper_read_breaks_a_tie_as_the_store_orders_codes_on_an_english_collation(
    pg_store: Store,
    tmp_path: Path,
    calendar: SchoolCalendar,  # noqa: F811
) -> None:
    """Two marks of one session recorded at the same instant: the later row in the store's
    ``ORDER BY ... code`` wins (``latest_per_cell``). On a database whose collation is not
    byte order (an English school's server: en_GB), the read in this process orders by it;
    the helper's read ahead (before this round: the same ``ORDER BY``) must give the same
    register."""
    at = "2025-09-03T08:50:00+01:00"
    _import(pg_store, tmp_path, calendar, T0, f"oaks,P1,2025-09-03,AM,B,,{at}")
    later = T0 + timedelta(hours=1)
    _import(pg_store, tmp_path, calendar, later, f"oaks,P1,2025-09-03,AM,\\,,{at}")
    when = T0 + timedelta(days=1)
    with pg_store.register_reader() as reader:
        reader.ahead("oaks", calendar, when, None)
        ahead = reader.read("oaks", calendar, when, None)
    here = _read(pg_store, calendar, when, None)
    _same(ahead, here)


@pytest.mark.postgres
def test_a_helper_that_cannot_connect_fails_with_the_stores_error_as_before(
    calendar: SchoolCalendar,  # noqa: F811
) -> None:
    """A helper's own psycopg connection that cannot be made is the read's own failure: read
    as the store reads, with its errors (a ``DBAPIError``, which the daemon's inbox and start
    catch), as the helper's read raised before it had a connection of its own."""
    from sqlalchemy.exc import DBAPIError

    from escalation_flow.adapters.store import register_helper
    from escalation_flow.adapters.store.kept_registers import kept_sql
    from escalation_flow.core.marks import Roster

    url = make_url(base._postgres_url()).set(port=1)
    job = register_helper.Job(
        path=None,
        url=url.render_as_string(hide_password=False),
        conninfo=f"host={url.host} port=1 dbname={url.database} user={url.username}",
        marks_sql=kept_sql("postgresql", 1, calendar),
        amended_sql=None,
        school="oaks",
        calendar=calendar,
        names={},
        roster=Roster("oaks"),
        known_at=T0,
    )
    with pytest.raises(DBAPIError):
        register_helper.read_kept(job)


def test_a_psycopg_only_url_parameter_leaves_the_helper_the_stores_way() -> None:
    """SQLAlchemy hands a URL's query to ``psycopg.connect`` as keyword arguments, so a store
    on ``...?autocommit=true`` connects; libpq knows no such option, and a connection string
    made of it raised in ``RegisterReader()`` (every register read of the evening). The helper
    then reads as the store reads (no connection string of its own)."""
    from escalation_flow.adapters.store.engine import create_store_engine
    from escalation_flow.adapters.store.marks_reader import _conninfo

    engine = create_store_engine("postgresql+psycopg://staff@db.example/trust?autocommit=true")
    assert _conninfo(engine) is None


@pytest.mark.postgres
def test_a_replays_marks_break_a_same_instant_tie_as_the_daemons_read_on_an_english_collation(
    pg_store: Store,
    tmp_path: Path,
    calendar: SchoolCalendar,  # noqa: F811
) -> None:
    """``replay`` and ``audit`` read a school's mark versions themselves (``stored_marks``):
    two versions of one session recorded at one instant must come in the order the daemon's
    reads put them (codes in byte order, ``kept_registers._CODE_RANK``), or the register a
    replay rebuilds keeps the other code."""
    from escalation_flow.adapters.store.audit_reads import stored_marks
    from escalation_flow.adapters.store.cases import school_id
    from escalation_flow.core.register import AssumeRecordedAt, register_as_known_at

    at = "2025-09-03T08:50:00+01:00"
    _import(pg_store, tmp_path, calendar, T0, f"oaks,P1,2025-09-03,AM,B,,{at}")
    later = T0 + timedelta(hours=1)
    _import(pg_store, tmp_path, calendar, later, f"oaks,P1,2025-09-03,AM,\\,,{at}")
    when = T0 + timedelta(days=1)
    with pg_store.engine.connect() as conn:
        marks = stored_marks(conn, school_id(conn, "oaks"), "oaks", calendar)
    replayed = register_as_known_at(
        marks.table, calendar, known_at=when, unknown_recorded_at=AssumeRecordedAt(when)
    )
    with pg_store.register_reader() as reader:
        reader.ahead("oaks", calendar, when, None)
        daemon = reader.read("oaks", calendar, when, None)
    assert replayed.pupils == daemon.grid.pupils
    assert np.array_equal(replayed.codes, daemon.grid.codes)


@pytest.mark.postgres
def test_a_schools_marks_come_in_load_order_off_the_index_without_a_sort(
    pg_store: Store,
) -> None:
    """Codes in byte order belong to the column (0022), not to each query: PostgreSQL reads a
    school's year in the load order straight off the primary key, where ``COLLATE "C"`` in
    the query sorted every read of a year of marks."""
    from escalation_flow.adapters.store.mark_texts import load_sql

    sql = load_sql("postgresql", 1, T0.date(), T0.date() + timedelta(days=300))
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        collation = conn.exec_driver_sql(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_name = 'marks' AND column_name = 'code'"
        ).scalar_one()
    assert collation == "C"
    assert "Sort" not in plan, plan
