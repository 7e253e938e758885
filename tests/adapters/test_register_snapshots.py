"""The kept registers saved to files (``register_snapshots``): a daemon restarted reads only what
the database shows is new, and a file the database does not prove is never used: every read
gives, row for row, what a whole read of the store gives."""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import structlog
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from escalation_flow.adapters.store import Store, marks_reader, register_snapshots
from escalation_flow.adapters.store.bulk import fetch
from escalation_flow.adapters.store.kept_registers import KEPT_SCHEMA, KeptMarks, kept_of, kept_sql
from escalation_flow.adapters.store.register_snapshots import (
    RegisterSnapshots,
    default_dir,
    snapshots_folder,
    snapshots_root,
)
from escalation_flow.adapters.store.retention import SqlRetention
from escalation_flow.core import codes
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.retention import RetentionPolicy
from escalation_flow.daemon import runner
from escalation_flow.daemon.locks import SqliteLock
from escalation_flow.errors import ConflictError
from tests.adapters import test_store as base
from tests.adapters.test_kept_registers import _CALENDAR, DAYS, NEXT_DAY, T0, _import, _read, _same
from tests.adapters.test_kept_registers import calendar as calendar
from tests.adapters.test_kept_registers import store as store

_NAMES = ("pupil_id", "session", "code", "recorded_at", "minutes_late", "import_id")


def _whole(store: Store, school: str, calendar: SchoolCalendar) -> KeptMarks:
    """The school's rows as a whole read gives them."""
    with store.engine.connect() as conn:
        sid = conn.exec_driver_sql(f"SELECT id FROM schools WHERE key = '{school}'").scalar_one()
        rows = fetch(conn, kept_sql(store.engine.dialect.name, sid, calendar), KEPT_SCHEMA)
    return kept_of(school, calendar, rows)


def _same_rows(kept: KeptMarks | None, whole: KeptMarks) -> None:
    assert kept is not None
    for name in _NAMES:
        assert np.array_equal(getattr(kept, name), getattr(whole, name)), name


def _daemon(url: object, folder: Path) -> Store:
    made = Store(url)  # type: ignore[arg-type]
    made.keep_registers(folder)
    return made


def _stopped(url: object, folder: Path, calendar: SchoolCalendar, at: object) -> None:
    """A daemon that read oaks and pines, then stopped cleanly (its files written)."""
    daemon = _daemon(url, folder)
    try:
        with daemon.register_reader() as reader:
            for school in ("oaks", "pines"):
                reader.read(school, calendar, at)  # type: ignore[arg-type]
        assert daemon.save_registers() == 2
    finally:
        daemon.dispose()


def _whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reads of the marks without a list of imports seen: whole reads."""
    whole: list[str] = []
    real = marks_reader.fetch

    def counting(conn: object, sql: str, schema: pa.Schema, **how: bool) -> pa.Table:
        if "NOT IN" not in sql:
            whole.append(sql)
        return real(conn, sql, schema, **how)  # type: ignore[arg-type]

    monkeypatch.setattr(marks_reader, "fetch", counting)
    return whole


def test_a_restarted_daemon_reads_its_file_and_only_the_rows_imported_since(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    day2 = T0 + timedelta(days=1)
    _import(store, tmp_path, calendar, day2, *NEXT_DAY)  # while it was stopped
    whole = _whole_reads(monkeypatch)
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, calendar, day2, None)
        assert whole == [] and not [e for e in logs if e["event"] == "register_snapshot.rejected"]
        _same(got, _read(store, calendar, day2, None))
        assert daemon.registers_kept is not None
        _same_rows(daemon.registers_kept.get("oaks", calendar), _whole(store, "oaks", calendar))
    finally:
        daemon.dispose()


def test_a_file_of_marks_since_deleted_is_rejected_and_the_school_read_whole(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure (or retention) deleted marks the file holds: same imports, fewer rows."""
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM marks WHERE pupil_id IN (SELECT id FROM pupils WHERE mis_id = 'P2')"
        )
    whole = _whole_reads(monkeypatch)
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, calendar, T0, None)
        assert [e["event"] for e in logs] == ["register_snapshot.rejected"]
        assert len(whole) == 1
        _same(got, _read(store, calendar, T0, None))
    finally:
        daemon.dispose()


def test_a_file_of_an_import_undone_by_a_restore_is_rejected_though_its_id_came_back(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    """A restore to before an import, then another import: the id may be the same again, and
    the rows as many; its fingerprint is not."""
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM marks")
        conn.exec_driver_sql("DELETE FROM imports")
        if store.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('imports', 'id'), 1, false)")
    changed = [d.replace(",/,", ",L,") for d in DAYS]  # same rows, other codes
    _import(store, tmp_path, calendar, T0 + timedelta(minutes=1), *changed)
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, calendar, T0 + timedelta(minutes=1), None)
        assert [e["event"] for e in logs] == ["register_snapshot.rejected"]
        _same(got, _read(store, calendar, T0 + timedelta(minutes=1), None))
    finally:
        daemon.dispose()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty"])
def test_a_torn_or_corrupt_file_is_rejected(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, damage: str
) -> None:
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    (path,) = [p for p in (folder).rglob("*.arrow") if _holds(p, "oaks")]
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":  # a byte of the rows' data: the file still opens
        at = _a_data_byte(path)
        data[at] ^= 0x01
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, calendar, T0, None)
        assert [e["event"] for e in logs] == ["register_snapshot.rejected"]
        _same(got, _read(store, calendar, T0, None))
    finally:
        daemon.dispose()


def _holds(path: Path, school: str) -> bool:
    with pa.memory_map(str(path)) as source:
        meta = pa.ipc.open_file(source).schema.metadata
    return meta[b"school"] == school.encode()


def _a_data_byte(path: Path) -> int:
    """The offset of the first byte of the pupil ids' values in the file."""
    with pa.memory_map(str(path)) as source:
        column = pa.ipc.open_file(source).read_all().column("pupil_id").chunk(0)
    wanted = column.buffers()[1].to_pybytes()
    return path.read_bytes().index(wanted)


def test_another_database_never_sees_the_files(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    other = Store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    other.keep_registers(folder)
    try:
        assert other.registers_kept is not None
        assert other.registers_kept.candidate("oaks", calendar) is None
    finally:
        other.dispose()


def test_a_sqlite_database_keeps_its_files_beside_it_and_a_server_in_the_state_directory() -> None:
    assert default_dir("sqlite:////var/lib/ef/store.sqlite", {}) == Path(
        "/var/lib/ef/register-snapshots"
    )
    assert default_dir("sqlite://", {}) is None
    server = "postgresql+psycopg://u@h/db"
    systemd = {"STATE_DIRECTORY": "/var/lib/escalation-flow:/var/lib/other", "XDG_STATE_HOME": "/x"}
    assert default_dir(server, systemd) == Path("/var/lib/escalation-flow/register-snapshots")
    assert default_dir(server, {"XDG_STATE_HOME": "/home/u/.state"}) == Path(
        "/home/u/.state/escalation-flow/register-snapshots"
    )
    assert (
        default_dir(server, {}) == Path.home() / ".local/state/escalation-flow/register-snapshots"
    )
    # the setting wins; empty: none; one resolution for the daemon and the deleting commands
    assert snapshots_root("/srv/files", server, systemd) == Path("/srv/files")
    assert snapshots_root("", server, systemd) is None
    assert snapshots_root(None, server, systemd) == default_dir(server, systemd)
    assert (
        snapshots_folder(None, server, systemd)
        == RegisterSnapshots(Path("/var/lib/escalation-flow/register-snapshots"), server).folder
    )
    assert runner.register_snapshots("/srv/files", make_url(server)) == Path("/srv/files")


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_the_files_and_their_folders_are_private_whatever_the_umask(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, umask: int
) -> None:
    folder = tmp_path / "state" / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    before = os.umask(umask)
    try:
        _stopped(store.engine.url, folder, calendar, T0)
    finally:
        os.umask(before)
    files = list(folder.rglob("*.arrow"))
    assert len(files) == 2
    assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o600, 0o600]
    for made in (folder, folder.parent, files[0].parent):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


@pytest.mark.parametrize("why", ["file", "proof"])
def test_a_rejected_file_is_deleted_at_once(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, why: str
) -> None:
    """It can never be used, and it holds marks: logged, then gone."""
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    (path,) = [p for p in folder.rglob("*.arrow") if _holds(p, "oaks")]
    if why == "file":
        path.write_bytes(path.read_bytes()[:100])
    else:  # an erasure behind the file: the proof fails
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "DELETE FROM marks WHERE pupil_id IN (SELECT id FROM pupils WHERE mis_id = 'P2')"
            )
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, calendar, T0, None)
        assert [e["event"] for e in logs] == ["register_snapshot.rejected"]
        assert not path.exists()
        _same(got, _read(store, calendar, T0, None))
    finally:
        daemon.dispose()


def test_a_retention_run_deletes_the_files_and_a_daemon_running_through_it_writes_none(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    files = RegisterSnapshots(folder, store.engine.url).folder
    assert list(files.glob("*.arrow"))
    running = _daemon(store.engine.url, folder)  # started before the run: keeps what it reads
    try:
        with running.register_reader() as reader:
            reader.read("oaks", calendar, T0)
        now = datetime.now(UTC)
        SqlRetention(store.engine, str(folder)).apply(RetentionPolicy(6, 6), now.date(), "dpo", now)
        assert not files.exists()  # the run's: no file of the marks it erased
        assert running.save_registers() == 0  # it saw the run: writes none at its stop
        assert not files.exists()
    finally:
        running.dispose()


# -- random histories between the file and the restart -----------------------------------------

_PUPILS = ("P1", "P2", "P3")
_CODES = ("/", "\\", "N", "L", "I")
_row = st.tuples(
    st.sampled_from(("oaks", "pines")),
    st.sampled_from(_PUPILS),
    st.integers(0, 3),  # school day
    st.sampled_from(("AM", "PM")),
    st.sampled_from(_CODES),
    st.integers(0, 3),  # minutes after 08:00 the mark was recorded
)
_rows = st.lists(_row, min_size=1, max_size=6, unique_by=lambda r: (r[0], r[1], r[2], r[3], r[5]))
_step = st.one_of(
    st.tuples(st.just("import"), _rows),
    st.tuples(st.just("import_by_daemon"), _rows),
    st.tuples(st.just("erase"), st.sampled_from(_PUPILS)),
    st.tuples(st.just("retain"), st.integers(0, 3)),
    st.tuples(st.just("restore"), st.integers(1, 3)),
    st.tuples(st.just("damage"), st.integers(0, 10_000)),
)


def _lines(rows: list[tuple[str, str, int, str, str, int]]) -> list[str]:
    out = []
    for school, pupil, day, session, code, minute in rows:
        when = _CALENDAR.school_days[day]
        stamp = f"{when.isoformat()}T08:{minute:02d}:00+01:00"
        out.append(f"{school},{pupil},{when.isoformat()},{session},{code},,{stamp}")
    return out


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(_row, min_size=1, max_size=8, unique_by=lambda r: (r[0], r[1], r[2], r[3], r[5])),
    st.lists(_step, max_size=5),
    st.lists(_step, max_size=3),
)
def test_what_a_restarted_daemon_reads_is_a_whole_read_row_for_row(
    first: list[tuple[str, str, int, str, str, int]],
    between: list[tuple[str, object]],
    after_start: list[tuple[str, object]],
) -> None:
    """Imports (by another process or the restarted daemon), erasures, retention, restores
    (imports undone, their ids used again) and damaged files, between the file's writing and
    the restart's reads, and after the restart before its first read: the rows kept are those of
    a whole read, and the register the same."""
    with tempfile.TemporaryDirectory() as tmp:
        here = Path(tmp)
        url = f"sqlite:///{here / 'store.sqlite'}"
        plain = Store(url)
        plain.migrate()
        plain.upsert_schools(base._trust("oaks", "pines"))
        clock = [T0]

        def now() -> object:
            clock[0] += timedelta(minutes=1)
            return clock[0]

        try:
            _import(plain, here, _CALENDAR, now(), *_lines(first))  # type: ignore[arg-type]
            _stopped(url, here / "snapshots", _CALENDAR, clock[0])
            for step in between:
                _apply(plain, plain, here, step, now)
            daemon = _daemon(url, here / "snapshots")
            try:
                for step in after_start:
                    _apply(plain, daemon, here, step, now)
                at = now()
                with capture_logs() as logs:
                    _compare(daemon, plain, at)
                rejected = sum(e["event"] == "register_snapshot.rejected" for e in logs)
                event(f"files rejected: {rejected} of 2")
            finally:
                daemon.dispose()
        finally:
            plain.dispose()


def _compare(daemon: Store, plain: Store, at: object) -> None:
    for school in ("oaks", "pines"):
        with daemon.register_reader() as reader:
            got = reader.read(school, _CALENDAR, at)  # type: ignore[arg-type]
        with plain.register_reader() as reader:
            fresh = reader.read(school, _CALENDAR, at)  # type: ignore[arg-type]
        _same(got, fresh)
        assert daemon.registers_kept is not None
        kept = daemon.registers_kept.get(school, _CALENDAR)
        _same_rows(kept, _whole(plain, school, _CALENDAR))


def _apply(
    plain: Store, importer: Store, here: Path, step: tuple[str, object], now: object
) -> None:
    kind, arg = step
    if kind in ("import", "import_by_daemon"):
        by = importer if kind == "import_by_daemon" else plain
        _import(by, here, _CALENDAR, now(), *_lines(arg))  # type: ignore[arg-type, operator]
    elif kind == "erase":
        _execute(
            plain,
            f"DELETE FROM marks WHERE pupil_id IN (SELECT id FROM pupils WHERE mis_id = '{arg}')",
        )
    elif kind == "retain":
        before = _CALENDAR.school_days[int(arg)]  # type: ignore[call-overload]
        _execute(plain, f"DELETE FROM marks WHERE date < '{before.isoformat()}'")
    elif kind == "restore":  # the last imports undone, as a restore of a backup before them
        _execute(
            plain,
            f"DELETE FROM marks WHERE import_id IN "
            f"(SELECT id FROM imports ORDER BY id DESC LIMIT {int(arg)})",  # type: ignore[call-overload]
            f"DELETE FROM imports WHERE id IN "
            f"(SELECT id FROM imports ORDER BY id DESC LIMIT {int(arg)})",  # type: ignore[call-overload]
        )
    elif kind == "damage":
        for path in sorted((here / "snapshots").rglob("*.arrow")):
            data = bytearray(path.read_bytes())
            data[int(arg) % len(data)] ^= 0x10  # type: ignore[call-overload]
            path.write_bytes(bytes(data))
            break


def _execute(store: Store, *sql: str) -> None:
    with store.engine.begin() as conn:
        for statement in sql:
            conn.exec_driver_sql(statement)


def test_files_asked_ahead_are_proved_in_a_thread_and_a_rejected_one_read_by_a_helper(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    """The evening asks every register ahead: a proved file is kept before its school's turn;
    a rejected one (pines: a mark erased) is read whole by a helper, as with no file."""
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    _stopped(store.engine.url, folder, calendar, T0)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM marks WHERE school_id IN (SELECT id FROM schools WHERE key = 'pines')"
        )
    day2 = T0 + timedelta(days=1)
    daemon = _daemon(store.engine.url, folder)
    try:
        _import(daemon, tmp_path, calendar, day2, *NEXT_DAY)  # merged into oaks' candidate
        with capture_logs() as logs, daemon.register_reader() as reader:
            for school in ("oaks", "pines"):
                reader.ahead(school, calendar, day2)
            got = {school: reader.read(school, calendar, day2) for school in ("oaks", "pines")}
        assert [(e["event"], e["school"]) for e in logs] == [
            ("register_snapshot.rejected", "pines")
        ]
        assert daemon.registers_kept is not None
        for school in ("oaks", "pines"):
            with store.register_reader() as reader:
                _same(got[school], reader.read(school, calendar, day2))
            _same_rows(daemon.registers_kept.get(school, calendar), _whole(store, school, calendar))
    finally:
        daemon.dispose()


# -- the review of the seventh round -----------------------------------------------------------


def test_a_file_made_on_other_school_days_under_the_same_calendar_version_is_rejected(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    """A calendar's version names its files, not the bank holidays folded in from the
    ``holidays`` library: an upgrade of it that adds a day moves every later session, and a
    file's sessions are counted in the school days it was written on."""
    later = "oaks,P1,2025-09-05,AM,N,,2025-09-05T08:50:00+01:00"
    _import(store, tmp_path, calendar, T0, *DAYS, later)
    folder = tmp_path / "snapshots"
    _stopped(store.engine.url, folder, calendar, T0)
    moved = SchoolCalendar.build(
        calendar.years, calendar.bank_holidays | {date(2025, 9, 4)}, version=calendar.version
    )
    assert moved.day_index(date(2025, 9, 5)) == calendar.day_index(date(2025, 9, 5)) - 1
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, moved, T0, None)
        assert [e["event"] for e in logs] == ["register_snapshot.rejected"]
        _same(got, _read(store, moved, T0, None))
    finally:
        daemon.dispose()


def test_a_file_written_under_another_table_of_codes_is_rejected(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file holds code ids, which index ``CODE_OF_ID``: a release that adds a code (as the
    DfE did in 2024) moves the ids of the codes after it."""
    _import(store, tmp_path, calendar, T0, *DAYS)
    folder = tmp_path / "snapshots"
    with monkeypatch.context() as release_before:
        release_before.setattr(codes, "CODE_OF_ID", tuple(reversed(codes.CODE_OF_ID)))
        _stopped(store.engine.url, folder, calendar, T0)
    daemon = _daemon(store.engine.url, folder)
    try:
        with capture_logs() as logs:
            got = _read(daemon, calendar, T0, None)
        assert [e["event"] for e in logs] == ["register_snapshot.rejected"]
        _same(got, _read(store, calendar, T0, None))
    finally:
        daemon.dispose()


def test_a_stopping_daemon_writes_its_files_before_it_lets_go_of_its_lock(tmp_path: Path) -> None:
    """A restore waits for the daemon's lock (SQLite) and then deletes the folder: files written
    after the lock was let go could hold the replaced database's marks, left on disk."""
    database = tmp_path / "store.sqlite"
    held: list[bool] = []

    class Saving:
        def save_registers(self) -> int:
            try:
                SqliteLock(database).acquire()  # what a restore does first
            except ConflictError:
                held.append(True)
            else:
                held.append(False)
            return 0

        def dispose(self) -> None:
            pass

    daemon = object.__new__(runner.Daemon)
    daemon.mirror, daemon._worker, daemon.log = None, None, structlog.get_logger()
    daemon.warming = None
    daemon.store = Saving()  # type: ignore[assignment]
    daemon.lock = SqliteLock(database)
    daemon.lock.acquire()
    daemon.close()
    assert held == [True]


def test_a_retention_run_scrubs_the_database_even_when_its_register_files_cannot_be_deleted(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is committed before the files are deleted: a folder it may not delete (another
    user's, a daemon writing into it) still leaves the erased rows' bytes scrubbed, and says so."""
    _import(store, tmp_path, calendar, T0, *DAYS)
    scrubbed: list[bool] = []

    def undeletable(*_: object) -> None:
        raise PermissionError("register-snapshots")

    monkeypatch.setattr(register_snapshots, "drop_snapshots", undeletable)
    monkeypatch.setattr(SqlRetention, "_vacuum", lambda self: scrubbed.append(True))
    now = datetime.now(UTC)
    with pytest.raises(PermissionError):
        SqlRetention(store.engine, str(tmp_path / "snapshots")).apply(
            RetentionPolicy(6, 6), now.date(), "dpo", now
        )
    assert scrubbed == [True]


def test_a_folder_that_cannot_be_looked_into_never_fails_an_import_or_a_read(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's folder (a daemon run once as root) refuses a look into it: the files are
    a cache, the school is read whole. (A name too long stands for it: tests may run as root.)"""
    refused = tmp_path / ("x" * 300)  # in a folder that is there: ENAMETOOLONG, not ENOENT
    monkeypatch.setattr(RegisterSnapshots, "path", lambda self, school: refused)
    daemon = _daemon(store.engine.url, tmp_path / "snapshots")
    try:
        _import(daemon, tmp_path, calendar, T0, *DAYS)  # asks whether oaks has a file
        _same(_read(daemon, calendar, T0, None), _read(store, calendar, T0, None))
    finally:
        daemon.dispose()


def test_a_retention_run_committed_while_a_stopping_daemon_writes_its_files_leaves_none(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon asks for the runs before writing; a run committed then deletes the folder
    after its commit, and the daemon's later files would hold marks it erased."""
    folder = tmp_path / "snapshots"
    _import(store, tmp_path, calendar, T0, *DAYS)
    running = _daemon(store.engine.url, folder)
    real = RegisterSnapshots.write
    runs: list[bool] = []

    def racing(self: RegisterSnapshots, kept: KeptMarks, prints: object) -> bool:
        if not runs:  # between the daemon's first file and its second
            runs.append(True)
            now = datetime.now(UTC)
            SqlRetention(store.engine, str(folder)).apply(
                RetentionPolicy(6, 6), now.date(), "dpo", now
            )
        return real(self, kept, prints)  # type: ignore[arg-type]

    try:
        with running.register_reader() as reader:
            for school in ("oaks", "pines"):
                reader.read(school, calendar, T0)
        monkeypatch.setattr(RegisterSnapshots, "write", racing)
        assert running.save_registers() == 0
        assert runs == [True]
        assert not RegisterSnapshots(folder, store.engine.url).folder.exists()
    finally:
        running.dispose()
