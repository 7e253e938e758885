"""The daemon renders letters beside its schedule (``daemon/letters.py``): asking returns at
once, an ask while rendering is rendered after, and closing stops between letters."""

from __future__ import annotations

import threading
from collections.abc import Callable

from escalation_flow.daemon.letters import LetterThread


def test_asking_returns_before_the_letters_are_rendered_and_they_are_rendered_after() -> None:
    release = threading.Event()
    rounds: list[int] = []

    def render(stop: Callable[[], bool]) -> int:
        release.wait(10)
        rounds.append(1)
        return 3

    letters = LetterThread(render, threading.Event())
    letters.ask()
    assert not letters.wait(timeout=0.05)  # still rendering: the caller was not held
    release.set()
    assert letters.wait(timeout=10)
    assert rounds == [1] and letters.rendered == 3
    letters.close()


def test_an_ask_while_rendering_renders_again_once_the_round_is_done() -> None:
    started, release = threading.Event(), threading.Event()
    rounds: list[int] = []

    def render(stop: Callable[[], bool]) -> int:
        started.set()
        release.wait(10)
        rounds.append(1)
        return 1

    letters = LetterThread(render, threading.Event())
    letters.ask()
    assert started.wait(10)
    letters.ask()  # letters prepared after the round read what to render
    letters.ask()  # asks while one is pending make one more round, not two
    release.set()
    assert letters.wait(timeout=10)
    assert len(rounds) == 2 and letters.rendered == 2
    letters.close()


def test_closing_tells_the_round_in_hand_to_stop_and_takes_no_more_asks() -> None:
    started = threading.Event()
    told_to_stop: list[bool] = []

    def render(stop: Callable[[], bool]) -> int:
        started.set()
        while not stop():  # a pool leaves the letters not started when told to stop
            threading.Event().wait(0.01)
        told_to_stop.append(True)
        return 0

    letters = LetterThread(render, threading.Event())
    letters.ask()
    assert started.wait(10)
    letters.close(wait=True)
    assert told_to_stop == [True]
    letters.ask()
    assert letters.wait(timeout=1)  # closed: nothing asked, nothing rendering


def test_the_daemon_stopping_stops_the_round_in_hand() -> None:
    stopping, started = threading.Event(), threading.Event()
    seen: list[bool] = []

    def render(stop: Callable[[], bool]) -> int:
        started.set()
        while not stop():
            threading.Event().wait(0.01)
        seen.append(True)
        return 0

    letters = LetterThread(render, stopping)
    letters.ask()
    assert started.wait(10)
    stopping.set()
    assert letters.wait(timeout=10) and seen == [True]
    letters.close()
