"""What the daemon tells an observer as it works: evenings, timers, imports, letters.

The daemon's ``Worker`` calls these where it logs the same events; ``metrics.Metrics`` is the
observer the command line hands in (``--metrics-port``), so that nothing under ``daemon/``
imports Prometheus and a daemon without metrics pays nothing (``NO_OBSERVER``).
"""

from __future__ import annotations

from typing import Protocol


class DaemonObserver(Protocol):
    def evening(self, school: str, seconds: float, timers_fired: int) -> None:
        """One school day evaluated in ``seconds`` (wall time), firing ``timers_fired``."""

    def fired(self, timers: int) -> None:
        """Review timers fired outside an evening (at their time, or caught up on start)."""

    def imported(self, kind: str, rows: int, rejected: int) -> None:
        """An inbox file imported: ``rows`` new to the store, ``rejected`` refused within it."""

    def file_rejected(self, rows: int) -> None:
        """An inbox file refused whole (moved to ``rejected/`` with its reasons), ``rows`` of
        it named by its problems."""

    def letters(self, queued: int, sent: int, failed: int) -> None:
        """An outbox round: letters queued, copies emailed, copies failed for good."""


class _NoObserver:
    def evening(self, school: str, seconds: float, timers_fired: int) -> None:
        pass

    def fired(self, timers: int) -> None:
        pass

    def imported(self, kind: str, rows: int, rejected: int) -> None:
        pass

    def file_rejected(self, rows: int) -> None:
        pass

    def letters(self, queued: int, sent: int, failed: int) -> None:
        pass


NO_OBSERVER: DaemonObserver = _NoObserver()
