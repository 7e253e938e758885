"""The letter pool is forked only from a process running one thread: a child forked beside a
working thread inherits the locks that thread held, with nobody left to release them."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest

from escalation_flow.service import letter_pool
from escalation_flow.service.letter_pool import start_method


def test_a_pool_started_beside_another_thread_is_spawned() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        release.set()
        other.join()


def test_a_pool_started_by_a_process_of_one_thread_is_forked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("this system cannot fork")
    # the test runner may hold threads of its own: the count is what the choice reads
    monkeypatch.setattr(letter_pool.threading, "active_count", lambda: 1)
    assert start_method() == "fork"
