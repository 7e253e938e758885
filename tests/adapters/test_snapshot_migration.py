"""Migration 0024: the snapshots of cases an amendment once returned to an earlier state are
dropped (their fold changed: ``core.case._led_by``), every other snapshot kept; SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.schema import current_revision, upgrade
from tests.adapters.test_row_storage import _downgrade
from tests.adapters.test_store import _trust, blank  # noqa: F401

T0 = datetime(2026, 3, 16, 18, 0, tzinfo=UTC)
RETURNED = (
    '{"date":"2026-03-16","from_state":"stage_4.improving","guard":"improved",'
    '"state":"stage_4.daily_checks","trigger":"amended","type":"state_entered"}'
)
MOVED = (
    '{"date":"2026-03-16","from_state":"stage_4.plan_review","guard":"improved",'
    '"state":"stage_4.improving","trigger":"stage_four_review","type":"state_entered"}'
)


@pytest.fixture
def store(blank: Store) -> Store:  # noqa: F811
    blank.migrate()
    blank.upsert_schools(_trust("oaks"))
    return blank


def _case(conn: sa.Connection, pupil: str, *bodies: str) -> None:
    case_id = conn.execute(
        sa.text(
            "INSERT INTO cases (school_id, pupil, flow, flow_version, status, stage, state, "
            "opened_on, updated_at, length, head_hash, snapshot) SELECT id, :pupil, 'f', 'v', "
            "'open', 4, 's', :on, :at, :n, 'h', 'snapshot' FROM schools RETURNING id"
        ),
        {"pupil": pupil, "on": date(2026, 3, 16), "at": T0, "n": len(bodies)},
    ).scalar_one()
    for seq, body in enumerate(bodies, start=1):
        conn.execute(
            sa.text(
                'INSERT INTO case_events (case_id, seq, "on", at, type, body, flow_version, '
                "actor, recorded_at, prev_hash, hash) VALUES (:case, :seq, :on, :at, "
                "'state_entered', :body, 'v', 'engine', :at, 'p', :hash)"
            ),
            {
                "case": case_id,
                "seq": seq,
                "on": date(2026, 3, 16),
                "at": T0,
                "body": body,
                "hash": f"{pupil}{seq}",
            },
        )


def test_only_the_snapshots_of_cases_an_amendment_returned_are_dropped(store: Store) -> None:
    _downgrade(store, "0023")
    with store.engine.begin() as conn:
        _case(conn, "P1", MOVED, RETURNED)
        _case(conn, "P2", MOVED)
    upgrade(store.engine)
    assert current_revision(store.engine) == "0024"
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT pupil, snapshot FROM cases")).all())
    assert rows == {"P1": None, "P2": "snapshot"}
