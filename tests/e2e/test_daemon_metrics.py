"""The daemon's metrics, as Prometheus scrapes them from ``--metrics-port``: an evening run, the
timers it fired, an inbox file imported and one rejected move the counters; the timers' gauges
say what the store says."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from datetime import datetime, time
from pathlib import Path
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.daemon.runner import DaemonOptions, run_daemon
from escalation_flow.daemon.work import Worker
from escalation_flow.logs import get_logger
from escalation_flow.metrics import Metrics
from escalation_flow.readiness import store_snapshot
from escalation_flow.service.outbox import Drained, Queued
from escalation_flow.settings import Settings
from tests.burst_builders import DUE, LONDON, build_burst
from tests.daemon_builders import SCHOOL

HEADER = "school,pupil,date,session,code,minutes_late,recorded_at"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inbox_files(inbox: Path) -> None:
    """A good day's marks for three pupils and a file with two bad rows (refused whole)."""
    inbox.mkdir()
    day = DUE[-1]
    good = [HEADER] + [
        f"{SCHOOL},B0000{p},{day},{s},/,,{day}T09:0{p}:00+01:00"
        for p in range(3)
        for s in ("AM", "PM")
    ]
    (inbox / "good.csv").write_text("\n".join(good) + "\n", encoding="utf-8")
    bad = [HEADER, f"{SCHOOL},B00001,{day},AM,QQ,,", f"{SCHOOL},B00002,2025-13-40,PM,/,,"]
    (inbox / "bad.csv").write_text("\n".join(bad) + "\n", encoding="utf-8")
    for path in inbox.iterdir():  # written a minute ago: settled
        os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))


def test_an_evening_timers_and_imports_move_the_daemons_metrics(tmp_path: Path) -> None:
    burst = build_burst(f"sqlite:///{tmp_path / 'store.sqlite'}", tmp_path, 6)
    inbox_files(tmp_path / "inbox")
    settings = Settings(
        database_url=burst.url, trust_file=burst.trust, inbox_dir=tmp_path / "inbox"
    )
    # the evening of the burst's last due day: its timers are due, its registers closed
    clock = SimulatedClock(datetime.combine(DUE[-1], time(19), tzinfo=LONDON))
    daemon = Root(clock).daemon(settings, DaemonOptions(once=True, catch_up_days=1))
    metrics = Metrics()
    daemon.observer = metrics
    metrics.watch(lambda: store_snapshot(daemon.service))
    port = free_port()
    stop = metrics.serve("127.0.0.1", port)
    try:
        before = scrape(port)
        run_daemon(daemon)
        after = scrape(port)
    finally:
        stop()

    school = (("school", SCHOOL),)
    assert ("escalation_flow_evenings_total", school) not in before
    assert after[("escalation_flow_evenings_total", school)] == 1
    assert after[("escalation_flow_evening_duration_seconds_count", school)] == 1
    assert before[("escalation_flow_timers_fired_total", ())] == 0
    assert after[("escalation_flow_timers_fired_total", ())] == burst.timers
    assert after[("escalation_flow_imports_total", (("outcome", "imported"),))] == 1
    assert after[("escalation_flow_imports_total", (("outcome", "rejected"),))] == 1
    assert after[("escalation_flow_import_rows_imported_total", (("kind", "marks"),))] == 6
    assert after[("escalation_flow_import_rows_rejected_total", ())] == 2, "the bad file's rows"
    assert before[("escalation_flow_store_readable", ())] == 0, "not opened yet"
    assert after[("escalation_flow_store_readable", ())] == 1
    assert after[("escalation_flow_timers_pending", ())] == 0, "every due timer fired"
    assert after[("escalation_flow_timers_overdue", ())] == 0
    assert after[("escalation_flow_last_evening_day_timestamp_seconds", school)] > 0


class _Outbox:
    """An outbox round's results, as ``service.outbox`` gives them (the sending is tested in
    test_outbox_cli; here only what the metrics make of it)."""

    emails = False

    def queue(self) -> Queued:
        return Queued(letters=2, email=3)

    def drain(self, sender: object, stop: object) -> Drained:
        return Drained(sent=2, failed=1, results=[(1, "sent"), (2, "sent"), (3, "failed")])


def test_an_outbox_round_moves_the_letters_metrics() -> None:
    metrics = Metrics()
    worker = Worker(
        SimpleNamespace(outbox=_Outbox()),  # type: ignore[arg-type]
        {},
        get_logger("test"),
        catch_up_days=0,
        inbox=None,
        wall_seconds=lambda: 0.0,
        stopping=threading.Event(),
    )
    worker.observer = metrics
    worker.sender = object()  # type: ignore[assignment]
    worker.send_letters()
    text = metrics.text().decode()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["escalation_flow_letters_queued_total"] == 2
    assert values["escalation_flow_letters_sent_total"] == 2
    assert values["escalation_flow_letters_failed_total"] == 1
