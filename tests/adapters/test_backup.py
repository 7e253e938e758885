"""Backup and restore on SQLite files (and PostgreSQL where it is set up), as the trust's IT
team runs them: ``backup --to``, ``restore``, then ``audit verify``. The state is the daemon
builders' small trust (one school, eight school days), on a simulated clock."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from sqlalchemy.engine import make_url

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, register_snapshots
from escalation_flow.adapters.store.register_snapshots import snapshots_folder
from escalation_flow.adapters.store.restores import Restore, record_restore
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.backups.compare import beyond
from escalation_flow.backups.work import restore_backup
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.service import Service
from tests.daemon_builders import (
    HEADER,
    PUPILS,
    SCHOOL,
    RootedRunner,
    built_state,
    clone,
    evening_clock,
    import_day,
    local,
    write_trust,
)
from tests.e2e.daemon_processes import count, environment, reap, start, wait_until

LATER_DAYS = (date(2025, 9, 15), date(2025, 9, 16))
DAEMON_DAYS = tuple(date(2025, 9, 15) + timedelta(days=n) for n in range(12) if (n % 7) < 5)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from built_state("sqlite", tmp_path_factory.mktemp("backup-template"))


@pytest.fixture
def url(template: str, tmp_path: Path) -> Iterator[str]:
    yield from clone(template, tmp_path)


class Desk:
    """The commands on one database, on one simulated clock moved on by hand."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder
        self.trust = write_trust(folder / "trust")
        self.clock = evening_clock()
        self.env = {
            "ESCALATION_FLOW_DATABASE_URL": url,
            "ESCALATION_FLOW_TRUST_FILE": str(self.trust),
            "ESCALATION_FLOW_LOG_FORMAT": "json",
            "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        }

    def run(self, *args: str) -> Result:
        return RootedRunner(Root(self.clock)).invoke(main, list(args), env=self.env)

    def later_days(self, evening: int = 18) -> None:
        """Two more school days imported and evaluated: the database moves past a backup. On
        the first, P1 and P4 are absent unexplained (N): P1's case moves on, P4's opens."""
        store = Store(self.url)
        trust = load_trust(self.trust)
        try:
            service = Service(store, trust, self.clock, worker="test")
            for day in LATER_DAYS:
                self.clock.set(local(day, 17))
                path = later_marks(self.folder, day)
                marks = read_marks(path, trust.calendars(), aliases=trust.aliases)
                store.import_marks(marks, file=path, now=self.clock.now(), by="test")
                self.clock.set(local(day, evening))
                service.run_day(SCHOOL, day)
        finally:
            store.dispose()
        self.clock.set(local(LATER_DAYS[-1], 19))

    def at(self, day: date, hour: int) -> None:
        self.clock.set(local(day, hour))


def later_marks(folder: Path, day: date) -> Path:
    rows = [HEADER]
    for pupil in PUPILS:
        am = "N" if pupil in ("P1", "P4") and day == LATER_DAYS[0] else "/"
        am_at, pm_at = local(day, 9, 5).isoformat(), local(day, 13, 10).isoformat()
        rows += [
            f"{SCHOOL},{pupil},{day},AM,{am},,{am_at}",
            f"{SCHOOL},{pupil},{day},PM,\\,,{pm_at}",
        ]
    path = folder / f"later-{day}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def evaluated(url: str) -> int:
    return count(url, "SELECT count(*) FROM school_days")


def sqlite_file(url: str) -> Path:
    return Path(str(make_url(url).database))


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()  # no connection left open: a PostgreSQL restore refuses to run beside one


def history_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM case_events").scalar_one())
    finally:
        engine.dispose()


def remove_database(url: str) -> None:
    path = sqlite_file(url)
    for extra in ("", "-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)


# -- round trip ------------------------------------------------------------------------------------


def test_a_backup_restored_where_the_database_was_lost_verifies_against_its_own_checkpoint(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "nightly" / "escalation-flow.backup"
    made = desk.run("backup", "--to", str(target))
    assert made.exit_code == 0, made.output
    assert "OK:" in made.output and "against the checkpoint of" in made.output
    kept = beside(target)
    assert f"sha256 {hashlib.sha256(kept.read_bytes()).hexdigest()}" in made.output
    held = history_rows(url)
    remove_database(url)

    desk.at(date(2025, 9, 13), 9)
    restored = desk.run("restore", str(target))

    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output and "OK:" in restored.output
    assert "not the pages (`serve`): stop them before restoring" in restored.output
    assert history_rows(url) == held
    assert desk.run("audit", "verify").exit_code == 0


def test_a_backup_does_not_replace_an_existing_file_without_force(url: str, tmp_path: Path) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "kept.backup"
    target.write_bytes(b"last week's backup")

    refused = desk.run("backup", "--to", str(target))
    assert refused.exit_code == 2 and "--force" in refused.output
    assert target.read_bytes() == b"last week's backup"
    assert desk.run("backup", "--to", str(target), "--force").exit_code == 0
    assert tarfile.is_tarfile(target)


def test_a_backup_does_not_replace_a_checkpoint_kept_beside_it_without_force(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "kept.backup"
    beside(target).write_text("the auditor's copy\n")

    refused = desk.run("backup", "--to", str(target))

    assert refused.exit_code == 2 and "--force" in refused.output, refused.output
    assert beside(target).read_text() == "the auditor's copy\n"
    assert not target.exists()


# -- a tampered backup -----------------------------------------------------------------------------


def beside(backup: Path) -> Path:
    """The checkpoint ``backup --to`` writes beside the file, for the auditor to keep."""
    return backup.with_name(f"{backup.name}.checkpoint.json")


def rewrite_member(backup: Path, name: str, change: Callable[[bytes], bytes], folder: Path) -> None:
    """The backup with one member's bytes changed, the others (the manifest) as they were."""
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    with tarfile.open(backup) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            members.append((member, change(data) if member.name == name else data))
    with tarfile.open(backup, "w") as tar:
        for member, data in members:
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def edit_database_copy(folder: Path) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        copy = folder / "edited.sqlite"
        copy.write_bytes(data)
        conn = sqlite3.connect(copy)
        with conn:
            conn.execute("UPDATE case_events SET actor = 'someone' WHERE seq = 1")
        conn.close()
        return copy.read_bytes()

    return change


def test_a_backup_whose_database_copy_was_edited_is_refused_and_nothing_is_restored(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0
    rewrite_member(target, "database.sqlite", edit_database_copy(tmp_path), tmp_path)
    remove_database(url)

    refused = desk.run("restore", str(target))

    assert refused.exit_code == 2, refused.output
    assert "database.sqlite: its sha256 is" in refused.output
    assert "nothing was restored" in refused.output
    assert not sqlite_file(url).exists()


def test_a_backup_whose_checkpoint_was_edited_is_refused(url: str, tmp_path: Path) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0

    def fewer_cases(data: bytes) -> bytes:
        document = json.loads(data)
        document["cases"] = document["cases"][1:]
        return json.dumps(document).encode()

    rewrite_member(target, "checkpoint.json", fewer_cases, tmp_path)
    refused = desk.run("restore", str(target), "--force")
    assert refused.exit_code == 2, refused.output
    assert "checkpoint.json" in refused.output and "edited" in refused.output


def test_a_file_that_is_not_a_backup_is_refused_naming_it(url: str, tmp_path: Path) -> None:
    desk = Desk(url, tmp_path)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup\n")
    refused = desk.run("restore", str(junk))
    assert refused.exit_code == 2 and f"{junk}: not a readable backup file" in refused.output


def test_a_backup_cut_short_is_refused_and_nothing_is_restored(url: str, tmp_path: Path) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0
    whole = target.read_bytes()
    target.write_bytes(whole[: len(whole) // 2])
    remove_database(url)

    refused = desk.run("restore", str(target))

    assert refused.exit_code == 2, refused.output
    assert str(target) in refused.output
    assert not sqlite_file(url).exists()


def test_a_database_member_larger_than_the_manifest_says_is_refused_before_it_is_written(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0
    rewrite_member(target, "database.sqlite", lambda data: data + b"\0" * 4096, tmp_path)
    remove_database(url)

    refused = desk.run("restore", str(target))

    assert refused.exit_code == 2, refused.output
    assert "database.sqlite:" in refused.output
    assert "the manifest (field size) gives" in refused.output
    assert not sqlite_file(url).exists()


def test_a_sparse_database_member_claiming_300_mb_is_refused_from_its_header(
    url: str, tmp_path: Path
) -> None:
    """A GNU sparse member's header claims its whole size while the archive holds almost
    nothing: refused before a byte of it is written out."""
    gnu_tar = shutil.which("tar")
    if gnu_tar is None:
        pytest.skip("tar is not installed (GNU tar makes the sparse member)")
    desk = Desk(url, tmp_path)
    target = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0
    parts = tmp_path / "parts"
    parts.mkdir()
    with tarfile.open(target) as tar:
        for name in ("manifest.json", "checkpoint.json"):
            (parts / name).write_bytes(tar.extractfile(name).read())  # type: ignore[union-attr]
    with (parts / "database.sqlite").open("wb") as f:
        f.truncate(300 << 20)  # all hole: a few blocks in the archive
    crafted = tmp_path / "crafted.backup"
    made = subprocess.run(
        [gnu_tar, "--sparse", "--format=gnu", "-cf", str(crafted), "-C", str(parts),
         "manifest.json", "checkpoint.json", "database.sqlite"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"tar could not make a sparse archive: {made.stderr.strip()}")
    with tarfile.open(crafted) as tar:
        assert tar.getmember("database.sqlite").issparse()  # the test makes what it means to

    refused = desk.run("restore", str(crafted), "--force")

    assert refused.exit_code == 2, refused.output
    assert "database.sqlite: not a plain file member" in refused.output
    assert "sparse" in refused.output


def test_a_checkpoint_member_over_its_cap_is_refused(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from escalation_flow.backups import archive

    desk = Desk(url, tmp_path)
    target = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0
    monkeypatch.setattr(archive, "CHECKPOINT_CAP", 100)

    refused = desk.run("restore", str(target), "--force")

    assert refused.exit_code == 2, refused.output
    assert "checkpoint.json:" in refused.output and "more than the 100" in refused.output


# -- an older backup restored over a newer database ------------------------------------------------


def backup_then_later_days(desk: Desk, tmp_path: Path) -> tuple[Path, Path]:
    """A backup on Friday evening; two more days; the auditor's checkpoint on Tuesday
    evening. The backup's file and the checkpoint's."""
    backup = tmp_path / "friday.backup"
    assert desk.run("backup", "--to", str(backup)).exit_code == 0
    desk.later_days()
    checkpoint = tmp_path / "auditor" / "tuesday.json"
    made = desk.run("audit", "checkpoint", "--out", str(checkpoint))
    assert made.exit_code == 0, made.output
    desk.at(LATER_DAYS[-1] + timedelta(days=1), 7)
    return backup, checkpoint


def test_restoring_over_a_newer_database_is_refused_saying_what_would_be_lost(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    backup, _ = backup_then_later_days(desk, tmp_path)
    held = history_rows(url)

    refused = desk.run("restore", str(backup))

    assert refused.exit_code == 4, refused.output
    assert "newer than the backup" in refused.output and "would lose" in refused.output
    assert "marks" in refused.output and "--force" in refused.output
    assert history_rows(url) == held


def test_an_older_backup_restored_verifies_against_its_checkpoint_and_is_reported_as_a_restore(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    backup, auditors = backup_then_later_days(desk, tmp_path)

    restored = desk.run("restore", str(backup), "--force")
    assert restored.exit_code == 0, restored.output
    assert "replaced (--force):" in restored.output and "OK:" in restored.output

    on_its_word = desk.run("audit", "verify", "--against", str(auditors))
    assert on_its_word.exit_code == 1, on_its_word.output
    assert f"{SCHOOL}/P4: case_deleted" in on_its_word.output
    assert "the database says it was restored at 2025-09-17" in on_its_word.output
    assert "pass it with --restored-from BACKUP_CHECKPOINT" in on_its_word.output
    assert "missing by restore" not in on_its_word.output

    verified = desk.run(
        "audit", "verify", "--against", str(auditors), "--restored-from", str(beside(backup))
    )
    assert verified.exit_code == 0, verified.output
    assert "records after it are missing by restore, not tampering" in verified.output
    assert "restored at 2025-09-17" in verified.output
    assert f"missing by restore: {SCHOOL}/P4: case_deleted" in verified.output


def test_a_truncation_after_the_restore_is_still_caught(url: str, tmp_path: Path) -> None:
    desk = Desk(url, tmp_path)
    backup, auditors = backup_then_later_days(desk, tmp_path)
    assert desk.run("restore", str(backup), "--force").exit_code == 0
    last = "(SELECT max(seq) FROM case_events WHERE case_id = (SELECT id FROM cases WHERE pupil = 'P1'))"
    execute(
        url,
        f"DELETE FROM case_events WHERE case_id = (SELECT id FROM cases WHERE pupil = 'P1') "
        f"AND seq = {last}",
        f"UPDATE cases SET length = {last}, head_hash = (SELECT hash FROM case_events WHERE "
        f"case_id = (SELECT id FROM cases WHERE pupil = 'P1') AND seq = {last}) WHERE pupil = 'P1'",
    )

    verified = desk.run(
        "audit", "verify", "--against", str(auditors), "--restored-from", str(beside(backup))
    )

    assert verified.exit_code == 1, verified.output
    assert f"{SCHOOL}/P1" in verified.output and "truncated" in verified.output
    assert "the restore does not explain what is missing" in verified.output


def test_a_record_edited_after_the_restore_is_caught_even_in_a_case_the_backup_did_not_hold(
    url: str, tmp_path: Path
) -> None:
    """After the restore the days are run again: P4's case opens anew (its records not the ones
    the auditor's checkpoint saw, which the restore explains); one of them edited in place is
    tampering all the same."""
    desk = Desk(url, tmp_path)
    backup, auditors = backup_then_later_days(desk, tmp_path)
    assert desk.run("restore", str(backup), "--force").exit_code == 0
    desk.later_days(evening=20)  # evaluated later in the evening: the same decisions, new records
    p4 = "case_id = (SELECT id FROM cases WHERE pupil = 'P4')"
    execute(url, f"UPDATE case_events SET actor = 'someone' WHERE {p4} AND seq = 2")

    verified = desk.run(
        "audit", "verify", "--against", str(auditors), "--restored-from", str(beside(backup))
    )

    assert verified.exit_code == 1, verified.output
    assert f"{SCHOOL}/P4 record 2: edited" in verified.output
    assert f"missing by restore: {SCHOOL}/P4 record 3: rewritten" in verified.output


def test_a_restore_row_whose_checkpoint_was_edited_explains_nothing(
    url: str, tmp_path: Path
) -> None:
    """Whoever deletes records could also lower the lengths in the restore's row to cover
    them: the row's checkpoint is no longer the one the auditor holds, and explains nothing."""
    desk = Desk(url, tmp_path)
    backup, auditors = backup_then_later_days(desk, tmp_path)
    assert desk.run("restore", str(backup), "--force").exit_code == 0
    execute(
        url, "UPDATE restores SET checkpoint = replace(checkpoint, '\"length\":', '\"length\":1')"
    )

    verified = desk.run(
        "audit", "verify", "--against", str(auditors), "--restored-from", str(beside(backup))
    )

    assert verified.exit_code == 1, verified.output
    assert "not the backup restored, or the restore's row was changed" in verified.output
    assert "the restore explains nothing" in verified.output
    assert "missing by restore:" not in verified.output


def delete_case(conn: sqlite3.Connection, pupil: str) -> None:
    """The case gone whole, as the attacker removed it: history, letters, tasks, timers, its
    chain of later records."""
    (cid,) = conn.execute("SELECT id FROM cases WHERE pupil = ?", (pupil,)).fetchone()
    for table in ("case_events", "letters", "tasks", "timers"):
        conn.execute(f"DELETE FROM {table} WHERE case_id = ?", (cid,))
    conn.execute("DELETE FROM chain_records WHERE chain = ?", (f"case:{SCHOOL}/{pupil}",))
    conn.execute("DELETE FROM cases WHERE id = ?", (cid,))


def forge_backup(real: Path, folder: Path, pupil: str, made_at: datetime) -> Path:
    """The attacker's forgery: the copy in ``real`` without ``pupil``'s case, a checkpoint made
    from it dated ``made_at``, a new manifest; everything consistent, nothing signed."""
    from escalation_flow.adapters.store.engine import create_store_engine
    from escalation_flow.audit.checkpoint import checkpoint_text, make_checkpoint
    from escalation_flow.backups.archive import file_sha256, write_backup
    from escalation_flow.core.chain import instant_text

    with tarfile.open(real) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        copy = folder / "forged.sqlite"
        copy.write_bytes(tar.extractfile("database.sqlite").read())  # type: ignore[union-attr]
    conn = sqlite3.connect(copy)
    with conn:
        delete_case(conn, pupil)
    conn.close()
    engine = create_store_engine(f"sqlite:///{copy}")
    try:
        document = make_checkpoint(engine, made_at)
    finally:
        engine.dispose()
    manifest |= {
        "created_at": instant_text(made_at), "checkpoint_sha256": document["sha256"],
        "database_sha256": file_sha256(copy), "size": copy.stat().st_size,
    }  # fmt: skip
    forged = folder / "forged.backup"
    write_backup(forged, manifest, checkpoint_text(document), copy)
    return forged


def test_a_forged_backup_restored_does_not_pass_off_a_deleted_case_as_missing_by_restore(
    url: str, tmp_path: Path
) -> None:
    """The attacker's repro: the auditor's checkpoint C, then a backup; the copy in it without
    P1's case, its checkpoint remade as of 30 s before C, a new manifest; restored with
    --force. Neither the database's word nor the real backup's checkpoint excuses P1."""
    desk = Desk(url, tmp_path)
    auditors = tmp_path / "auditor" / "c.json"
    assert desk.run("audit", "checkpoint", "--out", str(auditors)).exit_code == 0
    real = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(real)).exit_code == 0
    made_at = datetime.fromisoformat(json.loads(auditors.read_text())["made_at"])
    forged = forge_backup(real, tmp_path, "P1", made_at - timedelta(seconds=30))
    desk.at(date(2025, 9, 15), 7)
    assert desk.run("restore", str(forged), "--force").exit_code == 0

    on_its_word = desk.run("audit", "verify", "--against", str(auditors))
    assert on_its_word.exit_code == 1, on_its_word.output
    assert f"{SCHOOL}/P1: case_deleted" in on_its_word.output
    assert "missing by restore" not in on_its_word.output
    assert "--restored-from BACKUP_CHECKPOINT" in on_its_word.output

    with_real = desk.run(
        "audit", "verify", "--against", str(auditors), "--restored-from", str(beside(real))
    )
    assert with_real.exit_code == 1, with_real.output
    assert f"{SCHOOL}/P1: case_deleted" in with_real.output
    assert "missing by restore" not in with_real.output
    assert "the restore explains nothing" in with_real.output


def test_a_restore_row_inserted_by_hand_excuses_nothing_on_its_own(
    url: str, tmp_path: Path
) -> None:
    """Whoever can write the database deletes a case and inserts a restore to cover it."""
    desk = Desk(url, tmp_path)
    auditors = tmp_path / "auditor" / "c.json"
    assert desk.run("audit", "checkpoint", "--out", str(auditors)).exit_code == 0
    conn = sqlite3.connect(sqlite_file(url))
    with conn:
        delete_case(conn, "P1")
    conn.close()
    made_up = Restore(
        restored_at=datetime(2099, 1, 1, tzinfo=UTC), backup_created_at=datetime(2000, 1, 1,
        tzinfo=UTC), backup_file="made-up.backup", database_sha256="", checkpoint="{}", replaced="",
    )  # fmt: skip
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            record_restore(connection, made_up)
    finally:
        engine.dispose()

    verified = desk.run("audit", "verify", "--against", str(auditors))

    assert verified.exit_code == 1, verified.output
    assert f"{SCHOOL}/P1: case_deleted" in verified.output
    assert "missing by restore" not in verified.output


def test_what_a_restore_would_lose_is_counted_by_kind() -> None:
    def checkpoint(length: int, marks: int, letters: dict[str, list[str]]) -> dict[str, object]:
        return {
            "cases": [{"school": "s", "pupil": "P1", "length": length, "head": "h"}],
            "schools": {"s": {"seals": [], "marks": marks}},
            "letters": letters,
            "tasks": {},
            "records": {"school:s": [2, "x"]},
        }

    older = checkpoint(3, 10, {"1": ["s/P1", "a", None]})
    newer = checkpoint(5, 16, {"1": ["s/P1", "a", "pdf"], "2": ["s/P1", "b", None]})

    assert beyond(newer, older) == [
        "2 history records of 1 cases",
        "6 marks",
        "2 letters (new, or changed since)",
    ]
    assert beyond(older, newer) == []
    assert beyond(older, older) == []
    done, still_open = ["s/P1", "done", "c"], ["s/P1", "open", "o"]
    assert beyond(older | {"tasks": {"7": done}}, older | {"tasks": {"7": still_open}}) == [
        "1 tasks (new, or changed since)"
    ]
    assert beyond(older | {"tasks": {"7": still_open}}, older | {"tasks": {"7": done}}) == []


def test_a_checkpoint_made_after_the_restore_is_never_explained_by_it(
    url: str, tmp_path: Path
) -> None:
    desk = Desk(url, tmp_path)
    backup, _ = backup_then_later_days(desk, tmp_path)
    assert desk.run("restore", str(backup), "--force").exit_code == 0
    desk.at(LATER_DAYS[-1] + timedelta(days=1), 9)
    after = tmp_path / "after.json"
    assert desk.run("audit", "checkpoint", "--out", str(after)).exit_code == 0
    execute(url, "DELETE FROM chain_records WHERE seq = (SELECT max(seq) FROM chain_records)")

    verified = desk.run(
        "audit", "verify", "--against", str(after), "--restored-from", str(beside(backup))
    )
    assert verified.exit_code == 1, verified.output
    assert "missing by restore" not in verified.output


# -- the daemon ------------------------------------------------------------------------------------


def test_restore_stops_while_the_daemon_holds_its_lock(url: str, tmp_path: Path) -> None:
    from escalation_flow.daemon.locks import SqliteLock

    desk = Desk(url, tmp_path)
    backup = tmp_path / "b.backup"
    assert desk.run("backup", "--to", str(backup)).exit_code == 0
    daemon = SqliteLock(sqlite_file(url))
    daemon.acquire()
    try:
        refused = desk.run("restore", str(backup), "--force")
    finally:
        daemon.release()
    assert refused.exit_code == 4, refused.output
    assert "another daemon is running" in refused.output


@pytest.mark.slow
def test_a_backup_taken_while_the_daemon_writes_restores_and_verifies(
    url: str, tmp_path: Path
) -> None:
    """A real ``escalation-flow daemon`` on a simulated clock evaluates two weeks, a day each
    half second; the backup is taken once it has written its first day, and is restored into
    a database of its own: the copy is whole (it verifies against the checkpoint made from it)
    and is of the daemon mid-way (some of its days, not all)."""
    desk = Desk(url, tmp_path)
    store = Store(url)
    try:
        trust = load_trust(desk.trust)
        for day in DAEMON_DAYS:  # the registers of the weeks the daemon will evaluate
            import_day(store, trust, tmp_path, day, local(DAEMON_DAYS[-1], 20))
    finally:
        store.dispose()
    before = evaluated(url)
    env = environment(url, desk.trust, tmp_path)
    daemon = start(
        env, tmp_path, "--clock", "simulated", "--from", str(DAEMON_DAYS[0]),
        "--to", str(DAEMON_DAYS[-1]), "--speed", "2", "--no-inbox",
    )  # fmt: skip
    try:
        assert wait_until(lambda: evaluated(url) > before), daemon.text()[-3000:]
        target = tmp_path / "during.backup"
        made = desk.run("backup", "--to", str(target))
        assert made.exit_code == 0, made.output
        assert daemon.wait() == 0, daemon.text()[-3000:]
    finally:
        reap()
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere' / 'restored.sqlite'}"
    restored = Desk(elsewhere, tmp_path).run("restore", str(target))
    assert restored.exit_code == 0, restored.output
    assert "OK:" in restored.output
    assert before < evaluated(elsewhere) < evaluated(url) == before + len(DAEMON_DAYS)
    assert Desk(elsewhere, tmp_path).run("audit", "verify").exit_code == 0


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_postgresql_backup_restored_over_its_database_verifies(tmp_path: Path) -> None:
    for name in ("pg_dump", "pg_restore"):
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (apt-get install postgresql-client)")
    state = built_state("postgresql", tmp_path / "pg")
    pg_url = next(state)
    try:
        desk = Desk(pg_url, tmp_path)
        target = tmp_path / "pg.backup"
        made = desk.run("backup", "--to", str(target))
        assert made.exit_code == 0, made.output
        held = history_rows(pg_url)
        execute(pg_url, "DELETE FROM chain_records", "DELETE FROM timers")
        beside = sa.create_engine(pg_url)
        try:
            with beside.connect():  # the pages, say, still connected
                refused = desk.run("restore", str(target), "--force")
        finally:
            beside.dispose()
        assert refused.exit_code == 4 and "other connection(s)" in refused.output
        # the daemon's files of the registers, where a systemd unit's would be (unset setting)
        desk.env["STATE_DIRECTORY"] = str(tmp_path / "state")
        files = _register_files(None, pg_url, desk.env)
        restored = desk.run("restore", str(target), "--force")
        assert restored.exit_code == 0, restored.output
        assert not files.exists()  # they held the replaced database's marks
        assert history_rows(pg_url) == held
        assert desk.run("audit", "verify").exit_code == 0
    finally:
        next(state, None)


def _register_files(setting: str | None, url: str, env: dict[str, str]) -> Path:
    """A daemon's folder of register files for ``url`` (a file in it), as the daemon resolves it."""
    folder = snapshots_folder(setting, url, env)
    assert folder is not None
    folder.mkdir(parents=True)
    (folder / "school.arrow").write_bytes(b"marks")
    return folder


@pytest.mark.parametrize("setting", [None, "files"])
def test_a_restore_deletes_the_daemons_register_files_of_the_database(
    url: str, tmp_path: Path, setting: str | None
) -> None:
    desk = Desk(url, tmp_path)
    target = tmp_path / "nightly" / "escalation-flow.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0
    if setting is not None:
        setting = str(tmp_path / setting)
        desk.env["ESCALATION_FLOW_REGISTER_SNAPSHOTS_DIR"] = setting
    files = _register_files(setting, url, desk.env)  # unset: beside the SQLite file
    other = _register_files(setting, f"{url}.other", desk.env)  # another database's: kept
    restored = desk.run("restore", str(target), "--force")
    assert restored.exit_code == 0, restored.output
    assert not files.exists() and other.exists()


def test_a_restore_whose_register_files_cannot_be_deleted_is_still_whole(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is replaced before the daemon's files are deleted: a folder that cannot be
    deleted (another user's) is said, after the restored schema is brought up to date, the
    restore recorded and verified, not instead."""
    desk = Desk(url, tmp_path)
    target = tmp_path / "nightly" / "escalation-flow.backup"
    assert desk.run("backup", "--to", str(target)).exit_code == 0

    def undeletable(*_: object) -> None:
        raise PermissionError("register-snapshots")

    monkeypatch.setattr(register_snapshots, "drop_snapshots", undeletable)
    with pytest.raises(PermissionError):
        restore_backup(url, target, datetime.now(UTC), force=True)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM restores").scalar_one() == 1
    finally:
        engine.dispose()
