"""The long-running daemon: APScheduler mirroring the timers table and each school's evening
evaluation, the inbox of MIS exports, ``--once`` for cron and tests, and a simulated clock."""

from __future__ import annotations

from escalation_flow.daemon.runner import Daemon, DaemonOptions, Reconciled, run_daemon

__all__ = ["Daemon", "DaemonOptions", "Reconciled", "run_daemon"]
