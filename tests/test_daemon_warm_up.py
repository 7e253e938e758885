"""A daemon's start readies its first evening (``daemon/warmup.py``): the evening after a warm-up
writes the rows an evening without one writes, whatever was written between them (another
process's import, a staff action on the pages), reads only what moved on since, and a warm-up
told to stop, overtaken by an evening or failing never changes what the evening does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, cases, marks_reader
from escalation_flow.adapters.store.register_snapshots import snapshots_root
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.daemon import warmup
from escalation_flow.daemon.runner import Daemon, DaemonOptions
from escalation_flow.daemon.warmup import Warmed, warm_up
from escalation_flow.service import Service
from escalation_flow.settings import Settings
from tests.daemon_builders import (
    SCHOOL,
    built_state,
    clone,
    day_marks,
    evening_rows,
    local,
    write_trust,
)

MONDAY = date(2025, 9, 15)  # the school day after the built state's last


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from built_state(request.param, tmp_path_factory.mktemp(f"warm-{request.param}"))


def _import_monday(store: Store, trust: Trust, folder: Path, clock: SimulatedClock) -> None:
    path = day_marks(folder, MONDAY)
    result = read_marks(path, trust.calendars(), aliases=trust.aliases)
    store.import_marks(result, file=path, now=clock.now(), by="test")


def _stopped_daemon(url: str, files: Path, trust: Trust) -> None:
    """The daemon of the evening before: its register kept, then saved at its stop."""
    store = Store(url)
    store.keep_registers(files)
    service = Service(store, trust, SimulatedClock(local(MONDAY, 7)), worker="daemon")
    try:
        setup = service.setup(SCHOOL)
        with store.register_reader() as reader:
            reader.read(SCHOOL, setup.calendar, service.now())
        assert store.save_registers() == 1
    finally:
        store.dispose()


class _Reads:
    """What the evening read: snapshots decoded (by pupil) and marks read whole, here or in
    the helper process (asked ahead: the process's own reads are not seen from here)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.decoded: list[str] = []
        self.whole: list[str] = []
        decode, fetch, to_helper = cases.case_from_json, marks_reader.fetch, marks_reader._to_helper

        def helped(fn: Any, arg: Any) -> Any:
            self.whole.append(f"helper: {fn.__name__}")
            return to_helper(fn, arg)

        def decoding(text: str, school: str, pupil: str) -> Any:
            self.decoded.append(pupil)
            return decode(text, school, pupil)

        def fetching(conn: Any, sql: str, schema: pa.Schema, **how: bool) -> pa.Table:
            if "NOT IN" not in sql:
                self.whole.append(sql)
            return fetch(conn, sql, schema, **how)

        monkeypatch.setattr(cases, "case_from_json", decoding)
        monkeypatch.setattr(marks_reader, "fetch", fetching)
        monkeypatch.setattr(marks_reader, "_to_helper", helped)

    def clear(self) -> None:
        self.decoded.clear()
        self.whole.clear()


def _first_evening(
    template: str,
    folder: Path,
    reads: _Reads,
    warm: Callable[[], bool] | None,
    importer: str = "another process",
) -> tuple[dict[str, list[tuple[Any, ...]]], Warmed | None]:
    """A restart on Monday morning (``warm``: warmed, stopped when it says so), then the pages
    write and Monday's register is imported (by ``importer``: another process, or the daemon
    itself), then Monday's evening; the rows it leaves, and the warm-up."""
    folder.mkdir()
    for url in clone(template, folder):
        trust = load_trust(write_trust(folder / "trust"))
        files = snapshots_root(str(folder / "files"), sa.make_url(url))
        assert files is not None
        _stopped_daemon(url, files, trust)
        clock = SimulatedClock(local(MONDAY, 8))
        store, other = Store(url), Store(url)
        store.keep_registers(files)
        service = Service(store, trust, clock, worker="daemon")
        pages = Service(other, trust, clock, worker="pages")
        try:
            service.setup(SCHOOL)  # the start's checks
            reads.clear()
            warmed = warm_up(service, store, warm) if warm is not None else None
            pages.override(SCHOOL, "P1", 3, "sibling concerns", by="s.head")
            clock.set(local(MONDAY, 17))
            _import_monday(other if importer == "another process" else store, trust, folder, clock)
            clock.set(local(MONDAY, 18))
            reads.clear()
            service.run_trust_day(MONDAY)
            if warm is not None and warmed is not None and not warmed.stopped:
                # what moved on since the warm-up, and nothing else, read again
                assert reads.decoded == ["P1"] and reads.whole == []
            return evening_rows(store), warmed
        finally:
            store.dispose()
            other.dispose()
    raise AssertionError("no database")


@pytest.mark.parametrize("importer", ["another process", "the daemon"])
def test_a_warmed_first_evening_writes_the_rows_of_one_without_and_reads_only_what_moved_on(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importer: str
) -> None:
    reads = _Reads(monkeypatch)
    plain, _ = _first_evening(template, tmp_path / "plain", reads, None, importer)
    assert plain["case_events"] and reads.decoded, "the evening without decodes every open case"
    warm = tmp_path / "warm"
    warmed_rows, warmed = _first_evening(template, warm, reads, lambda: False, importer)
    assert warmed is not None and not warmed.stopped
    assert warmed.schools == 1 and warmed.cases == 2  # P1's and P2's cases are open
    assert warmed.templates >= 3, "the flow's letters and the layout and pieces they use"
    assert warmed_rows == plain


def test_a_warm_up_told_to_stop_stops_between_steps_and_the_evening_is_the_same(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _Reads(monkeypatch)
    plain, _ = _first_evening(template, tmp_path / "plain", reads, None)

    def once_cases_are_decoded() -> bool:  # told to stop before the registers are kept
        return bool(reads.decoded)

    rows, warmed = _first_evening(template, tmp_path / "stopped", reads, once_cases_are_decoded)
    assert warmed is not None and warmed.stopped
    # (its register may be kept all the same: its file's proof, asked ahead, may have ended)
    assert warmed.templates > 0 and warmed.cases == 2
    assert rows == plain


# -- the daemon's thread -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from built_state("sqlite", tmp_path_factory.mktemp("warm-daemon"))


@pytest.fixture
def daemon(sqlite_template: str, tmp_path: Path) -> Iterator[Daemon]:
    """A daemon opened on Monday at 08:00 on the built state (SQLite: the thread is the same on
    either)."""
    for url in clone(sqlite_template, tmp_path):
        settings = Settings(
            database_url=url,
            trust_file=write_trust(tmp_path / "trust"),
            inbox_dir=tmp_path / "inbox",
            register_snapshots_dir=str(tmp_path / "files"),
            letter_workers=0,
        )
        options = DaemonOptions(catch_up_days=0, inbox=False, worker="t")
        made = Root(SimulatedClock(local(MONDAY, 8))).daemon(settings, options)
        made.open()
        try:
            yield made
        finally:
            made.stopping.set()
            made.close()


def _held_in_the_letters(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The warm-up held in its first step until it is told to stop; set once it is there."""
    entered = threading.Event()

    def holding(letters: Any, *, stop: Callable[[], bool], **_: Any) -> int:
        entered.set()
        while not stop():
            time.sleep(0.01)
        return 0

    monkeypatch.setattr(warmup, "compile_letters", holding)
    return entered


def test_a_serving_daemon_warms_beside_its_schedule_and_stops_it_when_told_to_stop(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = _held_in_the_letters(monkeypatch)
    with capture_logs() as logs:
        serving = threading.Thread(target=daemon.serve)
        serving.start()
        assert entered.wait(30), "the schedule is served with the warm-up beside it"
        assert daemon.mirror is not None and daemon.mirror.scheduler.running
        daemon.stopping.set()
        serving.join(30)
        assert not serving.is_alive()
        assert daemon.warming is not None and daemon.warming.close(timeout=30)
    stopped = [e for e in logs if e["event"] == "daemon.warm_up_stopped"]
    assert [(e["by"], e["schools"], e["cases"]) for e in stopped] == [("the daemon stopping", 0, 0)]
    assert not [e for e in logs if e["event"] == "daemon.warmed"]


def test_an_evening_that_begins_stops_the_warm_up_and_reads_for_itself(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entered = _held_in_the_letters(monkeypatch)
    with capture_logs() as logs:
        daemon.warm_beside()
        assert entered.wait(30)
        report = _monday_evening(daemon, tmp_path)
        assert daemon.warming is not None and daemon.warming.close(timeout=30)
    assert report
    stopped = [e for e in logs if e["event"] == "daemon.warm_up_stopped"]
    assert [e["by"] for e in stopped] == ["an evening"]


def _monday_evening(daemon: Daemon, folder: Path) -> bool:
    """Monday's register imported at 17:00 and its evening run by the daemon's worker at 18:00:
    whether it was evaluated."""
    clock, store = daemon.clock, daemon.store
    assert isinstance(clock, SimulatedClock) and store is not None
    clock.set(local(MONDAY, 17))
    _import_monday(store, daemon.service.trust, folder, clock)
    clock.set(local(MONDAY, 18))
    report = daemon.worker.evaluate(SCHOOL, MONDAY)
    return report is not None and not report.skipped


def test_a_start_with_no_register_files_warms_only_the_letters(daemon: Daemon) -> None:
    # no files: a first start, a crash, a retention run, or schools another daemon ran
    with capture_logs() as logs:
        daemon.warm_beside()
        assert daemon.warming is not None and daemon.warming.wait(timeout=60)
    warmed = daemon.warming.warmed
    assert warmed is not None and not warmed.stopped
    assert warmed.templates > 0 and (warmed.schools, warmed.cases) == (0, 0)
    assert daemon.store is not None and daemon.store.registers_kept is not None
    assert daemon.store.registers_kept.kept() == []
    assert [e["event"] for e in logs if e["event"].startswith("daemon.")] == ["daemon.warmed"]


def test_a_school_the_start_has_read_already_is_warmed_with_its_open_cases(daemon: Daemon) -> None:
    # the reconcile's overdue timers read their schools' registers before the warm-up: those
    # schools are the daemon's too (kept, so no file waits for them any more)
    store, service = daemon.store, daemon.service
    assert store is not None
    with store.register_reader() as reader:
        assert reader.keep(SCHOOL, service.setup(SCHOOL).calendar, service.now())
    daemon.warm_beside()
    assert daemon.warming is not None and daemon.warming.wait(timeout=60)
    warmed = daemon.warming.warmed
    assert warmed is not None and (warmed.schools, warmed.cases) == (1, 2)


def test_a_warm_up_that_fails_is_logged_and_the_daemon_goes_on(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def failing(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the helper could not start")

    monkeypatch.setattr(warmup, "compile_letters", failing)
    with capture_logs() as logs:
        daemon.warm_beside()
        assert daemon.warming is not None and daemon.warming.wait(timeout=30)
    failed = [e for e in logs if e["event"] == "daemon.not_warmed"]
    assert [(e["error"], e["reason"]) for e in failed] == [
        ("RuntimeError", "the helper could not start")
    ]
    assert daemon.warming.warmed is None and not daemon.stopping.is_set()
    monkeypatch.undo()  # the evening reads as it would have
    assert _monday_evening(daemon, tmp_path)
