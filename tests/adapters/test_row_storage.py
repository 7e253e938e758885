"""How PostgreSQL stores the rows an evening rewrites (migration 0023): room left on each
``cases`` page for the row's next version; nothing on SQLite; the rows kept either way the
migration goes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.schema import alembic_config, current_revision, upgrade
from tests.adapters.test_store import _trust, blank  # noqa: F401

T0 = datetime(2026, 3, 16, 18, 0, tzinfo=UTC)
#: a school page of some length: kept as it was through the migration both ways
BODY = '{"pupils":[' + ",".join(f'"P{i:04d}"' for i in range(2000)) + "]}"


@pytest.fixture
def store(blank: Store) -> Store:  # noqa: F811
    blank.migrate()
    blank.upsert_schools(_trust("oaks"))
    return blank


def _keep_page(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO school_pages (school_id, day, import_stamp, flow_version, body, "
                "counted_at) SELECT id, :day, 1, 'v1', :body, :at FROM schools"
            ),
            {"day": date(2026, 3, 16), "body": BODY, "at": T0},
        )


def _bodies(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT body FROM school_pages")).scalars())


def _downgrade(store: Store, revision: str) -> None:
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_row_storage_migration_goes_down_and_up_again_keeping_the_rows(store: Store) -> None:
    _keep_page(store)
    _downgrade(store, "0022")
    assert current_revision(store.engine) == "0022"
    assert _bodies(store) == [BODY]
    upgrade(store.engine)
    store.require_current()
    assert _bodies(store) == [BODY]


@pytest.mark.postgres
def test_case_pages_keep_room_for_a_new_version_until_the_migration_is_undone(
    store: Store,
) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's storage settings")
    assert _case_options(store) == ["fillfactor=70"]
    _downgrade(store, "0022")
    assert _case_options(store) is None


def _case_options(store: Store) -> list[str] | None:
    with store.engine.connect() as conn:
        options = conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE oid = 'cases'::regclass"
        ).scalar()
    return None if options is None else list(options)
