"""``facts`` exits cleanly: no worker of pyarrow's CSV thread pool is alive when the
interpreter exits, the state in which the C++ runtime sometimes aborted the finished command
("terminate called without an active exception", exit 134, about 1 run in 100; issue 14,
item 7). ``tests/reliability`` runs the command hundreds of times."""

from __future__ import annotations

import sys

import pytest

from tests.e2e.facts_exit import run_facts, threads_at_exit


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_facts_leaves_no_pool_of_native_threads_alive_at_exit() -> None:
    result = run_facts(watch_threads=True)
    assert result.code == 0, result.stderr
    assert result.complete_json()
    others = [name for name in threads_at_exit(result) if name != "jemalloc_bg_thd"]
    # the main thread, and at most pyarrow's one reader of the input (idle once it is read);
    # with the CSV parsed on pyarrow's CPU pool, its workers (one a core and more) were alive
    assert len(others) <= 2, others
