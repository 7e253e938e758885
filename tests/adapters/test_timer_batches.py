"""Due timers are claimed and fired a batch per transaction (issue 13), on SQLite and on
PostgreSQL: a claim takes only pending timers (and on PostgreSQL skips those another worker
holds, without waiting), a daemon told to stop finishes the batch in hand, and every timer still
fires exactly once, in due order, on its case's chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.timers import claim_timers
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service
from escalation_flow.service.timer_firing import BATCH_FIRST
from tests.burst_builders import (
    DUE,
    LONDON,
    Burst,
    build_burst,
    fresh_postgres_database,
    postgres_admin_url,
)
from tests.e2e.daemon_processes import assert_each_fired_once

TIMERS = 120
AFTER = datetime.combine(DUE[-1], time(12), tzinfo=LONDON).astimezone(UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def burst(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Burst]:
    if request.param == "sqlite":
        yield build_burst(f"sqlite:///{tmp_path / 'store.sqlite'}", tmp_path, TIMERS)
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is unset or the server cannot be reached")
    with fresh_postgres_database(admin) as url:
        yield build_burst(url, tmp_path, TIMERS)


@pytest.fixture
def store(burst: Burst) -> Iterator[Store]:
    store = Store(burst.url)
    yield store
    store.dispose()


def service(store: Store, burst: Burst, worker: str) -> Service:
    return Service(store, load_trust(burst.trust), SimulatedClock(AFTER), worker=worker)


def pending_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        query = "SELECT id FROM timers WHERE status = 'pending' ORDER BY id"
        return list(conn.execute(sa.text(query)).scalars())


def test_a_daemon_told_to_stop_finishes_the_batch_in_hand_and_the_rest_fire_once_later(
    burst: Burst, store: Store
) -> None:
    asked: list[int] = []

    def stop_after_the_first_batch() -> bool:
        asked.append(1)
        return len(asked) > 2  # asked once for the school, then before each batch

    first = service(store, burst, "first").fire_due_timers(stop=stop_after_the_first_batch)

    assert len(first) == BATCH_FIRST
    assert len(pending_ids(store)) == TIMERS - BATCH_FIRST
    rest = service(store, burst, "second").fire_due_timers()
    assert len(rest) == TIMERS - BATCH_FIRST
    seen = assert_each_fired_once(burst.url, TIMERS)
    assert seen.order == sorted(seen.order), "timers fire in due order, batch after batch"
    assert seen.claimed_by == {"first": BATCH_FIRST, "second": TIMERS - BATCH_FIRST}


def test_a_claim_takes_only_pending_timers_and_gives_each_its_case_history_length(
    store: Store,
) -> None:
    ids = pending_ids(store)
    with store.engine.begin() as conn:
        first = claim_timers(conn, ids[:3], AFTER, "one")
    with store.engine.begin() as conn:
        second = claim_timers(conn, ids[:5], AFTER, "two")

    # opened, stage entered, timer armed: three records on each case
    assert first == {i: 3 for i in ids[:3]}
    assert second == {i: 3 for i in ids[3:5]}
    assert len(pending_ids(store)) == TIMERS - 5


@pytest.mark.postgres
def test_on_postgres_a_claim_skips_timers_another_worker_holds_without_waiting(
    burst: Burst, store: Store
) -> None:
    if not burst.url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    ids = pending_ids(store)
    with store.engine.begin() as holding:
        held = claim_timers(holding, ids[:10], AFTER, "one")
        with store.engine.begin() as other:
            other.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            taken = claim_timers(other, ids[:20], AFTER, "two")

    assert set(held) == set(ids[:10])
    assert set(taken) == set(ids[10:20])
