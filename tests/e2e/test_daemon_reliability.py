"""The daemon as real processes against real databases: timers fired exactly once through a
``SIGKILL`` and a restart, a ``SIGTERM`` that finishes the case in hand, and (PostgreSQL) two
daemons sharing one burst. Every history stays complete, in order and on its hash chain.

PostgreSQL variants run when ESCALATION_FLOW_TEST_POSTGRES_URL names a reachable server (each
test gets a database of its own) and skip, saying why, otherwise.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.burst_builders import Burst, build_burst, fresh_postgres_database, postgres_admin_url
from tests.e2e.daemon_processes import (
    assert_each_fired_once,
    environment,
    fired,
    reap,
    run,
    start,
    wait_until,
)

#: Enough timers that a burst lasts a few seconds, so a signal lands in the middle of it.
BURST = {"sqlite": 900, "postgresql": 600}

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _no_daemon_left_running() -> Iterator[None]:
    yield
    reap()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is unset or the server cannot be reached")
    with fresh_postgres_database(admin) as url:
        yield "postgresql", url


@pytest.fixture
def burst(backend_url: tuple[str, str], tmp_path: Path) -> Burst:
    backend, url = backend_url
    return build_burst(url, tmp_path, BURST[backend])


@pytest.mark.slow
def test_a_daemon_killed_mid_burst_then_restarted_fires_every_timer_exactly_once(
    burst: Burst, tmp_path: Path
) -> None:
    env = environment(burst.url, burst.trust, tmp_path)
    first = start(env, tmp_path, "--catch-up-days", "0")
    try:
        assert wait_until(lambda: fired(burst.url) >= burst.timers // 10), first.text()
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.wait()
    half_way = fired(burst.url)
    assert 0 < half_way < burst.timers, "the kill should land in the middle of the burst"

    code, output = run(env, tmp_path, "--once", "--catch-up-days", "0")

    assert code == 0, output
    seen = assert_each_fired_once(burst.url, burst.timers)
    assert seen.order == sorted(seen.order), "timers fire in due order, across the restart"
    assert '"daemon.reconciled"' in output


@pytest.mark.slow
def test_sigterm_finishes_the_timer_in_hand_and_stops_then_once_fires_the_rest(
    burst: Burst, tmp_path: Path
) -> None:
    env = environment(burst.url, burst.trust, tmp_path)
    daemon = start(env, tmp_path, "--catch-up-days", "0")
    assert wait_until(lambda: fired(burst.url) >= burst.timers // 10), daemon.text()

    daemon.process.send_signal(signal.SIGTERM)
    code = daemon.wait()  # PATIENCE: a loaded machine reads a school's marks slowly

    assert code == 0, daemon.text()
    assert '"daemon.stopping"' in daemon.text() and '"daemon.stopped"' in daemon.text()
    assert fired(burst.url) < burst.timers, "it stops between timers, not at the end of the burst"
    code, output = run(env, tmp_path, "--once", "--catch-up-days", "0")
    assert code == 0, output
    assert_each_fired_once(burst.url, burst.timers)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_daemons_on_one_postgres_share_a_burst_and_fire_nothing_twice(
    tmp_path: Path,
) -> None:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is unset or the server cannot be reached")
    with fresh_postgres_database(admin) as url:
        burst = build_burst(url, tmp_path, BURST["postgresql"])
        env = environment(url, burst.trust, tmp_path)
        daemons = [
            start(env, tmp_path, "--once", "--catch-up-days", "0", "--worker", f"daemon-{n}")
            for n in (1, 2)
        ]
        codes = [d.wait() for d in daemons]

        assert codes == [0, 0], [d.text() for d in daemons]
        seen = assert_each_fired_once(url, burst.timers)
        assert set(seen.claimed_by) <= {"daemon-1", "daemon-2"}
        assert sum(seen.claimed_by.values()) == burst.timers


@pytest.mark.slow
def test_the_scheduler_fires_a_burst_at_its_time_and_sigterm_stops_it_between_two_timers(
    backend_url: tuple[str, str], tmp_path: Path
) -> None:
    backend, url = backend_url
    # Far enough ahead that building the burst and starting the daemon finish first on a
    # loaded machine (12 s was not: the timers were overdue at start and fired by catch-up).
    soon = datetime.now(UTC) + timedelta(seconds=30)
    burst = build_burst(url, tmp_path, BURST[backend], fire_at=soon)
    env = environment(burst.url, burst.trust, tmp_path)
    daemon = start(env, tmp_path, "--catch-up-days", "0", "--no-inbox")
    assert wait_until(lambda: '"daemon.scheduled"' in daemon.text()), daemon.text()
    assert '"timer_jobs": 1' in daemon.text(), "one job for the burst's one instant"
    assert wait_until(lambda: fired(burst.url) >= burst.timers // 10), daemon.text()

    daemon.process.send_signal(signal.SIGTERM)

    assert daemon.wait(timeout=30) == 0, daemon.text()
    by_scheduler = fired(burst.url)
    assert by_scheduler < burst.timers, "it stops between timers, not at the end of the burst"
    code, output = run(env, tmp_path, "--once", "--catch-up-days", "0", "--no-inbox")
    assert code == 0, output
    seen = assert_each_fired_once(burst.url, burst.timers)
    on_time = sorted(late for late in seen.late if late is not None)[:by_scheduler]
    assert max(on_time) < 30, "the scheduler fired them at their time, not at the next start"
