"""``backup`` and ``restore``: the steps in order, each checked before the next.

Backup: copy the database consistently (SQLite's backup API; PostgreSQL's ``pg_dump`` from an
exported snapshot), make the audit checkpoint from the *copy* (so the two match exactly while
the daemon writes), write the file whole, read it back and verify the copy against the
checkpoint it carries.

Restore: read the file and check it against its manifest; stop if the daemon holds its lock
(or, on PostgreSQL, anyone is connected); refuse to replace a database that holds what the
backup does not, unless forced, saying what would be lost; put the copy back; bring its schema
up to date; record the restore in the restored database; verify against the backup's
checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from escalation_flow import __version__
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.engine import create_store_engine, sqlite_path
from escalation_flow.adapters.store.restores import Restore, record_restore
from escalation_flow.adapters.store.schema import current_revision, head_revision, require_current
from escalation_flow.audit.checkpoint import (
    check_against,
    checkpoint_text,
    make_checkpoint,
    read_checkpoint,
)
from escalation_flow.audit.store_check import verify_store
from escalation_flow.audit.verify import VerifyReport
from escalation_flow.backups import postgres_dump as pg
from escalation_flow.backups.archive import (
    CHECKPOINT,
    DATABASE_MEMBERS,
    FORMAT,
    KIND,
    Opened,
    file_sha256,
    open_backup,
    write_backup,
)
from escalation_flow.backups.compare import beyond, counts, tables_beyond
from escalation_flow.backups.sqlite_copy import copy_database, restore_database, single_file
from escalation_flow.core.chain import instant_text
from escalation_flow.daemon.locks import SqliteLock
from escalation_flow.errors import ConflictError, InputError, NotFoundError
from escalation_flow.logs import get_logger


@dataclass(frozen=True)
class Done:
    """A backup written or restored, and the verification of its copy against its checkpoint."""

    path: Path
    manifest: dict[str, Any]
    report: VerifyReport
    replaced: tuple[str, ...] = ()
    checkpoint_sha256: str = ""  # of the carried checkpoint's bytes (``sha256sum``)
    checkpoint_file: Path | None = None  # written beside a backup


def checkpoint_beside(target: Path) -> Path:
    """Where ``backup --to FILE`` writes the checkpoint it carries: ``FILE.checkpoint.json``."""
    return target.with_name(f"{target.name}.checkpoint.json")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- backup ----------------------------------------------------------------------------------------


def take_backup(database_url: str, target: Path, now: datetime, *, force: bool) -> Done:
    """Write the backup of the database at ``database_url`` to ``target`` and verify it."""
    beside = checkpoint_beside(target)
    for path in (target, beside):
        if path.exists() and not force:
            raise InputError(f"{path}: the file exists; give --force to replace it")
    kind = _kind(database_url)
    if kind == "sqlite" and not _sqlite_file(database_url).exists():
        raise NotFoundError(f"{_sqlite_file(database_url)}: no such database")
    _require_current(database_url)
    with _scratch(target.parent) as scratch:
        copy = scratch / DATABASE_MEMBERS[kind]
        if kind == "sqlite":
            manifest, document, report = _sqlite_copy(database_url, copy, now)
        else:
            manifest, document, report = _postgres_copy(database_url, copy, now)
        manifest |= {"database_sha256": file_sha256(copy), "size": copy.stat().st_size}
        write_backup(target, manifest, checkpoint_text(document), copy)
        copy.unlink()
        opened = _open(target, scratch)  # read back: the file on disk is the one checked
        if kind == "sqlite":
            report = verify_copy(opened)
        _write_private(beside, opened.checkpoint_text)
    sha = text_sha256(opened.checkpoint_text)
    get_logger(__name__).info(
        "backup.written", file=str(target), database=kind, revision=manifest["revision"],
        sha256=manifest["database_sha256"], checkpoint=str(beside), checkpoint_sha256=sha,
        ok=report.ok,
    )  # fmt: skip
    return Done(target, manifest, report, checkpoint_sha256=sha, checkpoint_file=beside)


def _write_private(path: Path, text: str) -> None:
    """``text`` to ``path`` whole or not at all, readable by its owner only (a checkpoint names
    pupils by their ids)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _sqlite_copy(
    database_url: str, copy: Path, now: datetime
) -> tuple[dict[str, Any], dict[str, Any], VerifyReport]:
    copy_database(_sqlite_file(database_url), copy)
    engine = create_store_engine(f"sqlite:///{copy}")
    try:
        revision = current_revision(engine) or "none"
        document = make_checkpoint(engine, now)
    finally:
        engine.dispose()
    single_file(copy)
    return _manifest("sqlite", revision, now, document), document, VerifyReport()


def _postgres_copy(
    database_url: str, copy: Path, now: datetime
) -> tuple[dict[str, Any], dict[str, Any], VerifyReport]:
    with pg.snapshot(database_url) as (name, engine):
        with engine.connect() as conn:
            server = pg.server_major(conn)
        pg.check_versions("pg_dump", pg.program_major("pg_dump"), server, "the server")
        revision = current_revision(engine) or "none"
        document = make_checkpoint(engine, now)
        report = _verified(engine, document)  # the snapshot the dump is taken from
        dumped_by = pg.dump(database_url, name, copy)
        pg.check_contents(copy, pg.tables_of(engine))
    manifest = _manifest("postgresql", revision, now, document) | {
        "pg_dump": dumped_by, "server_major": server,
    }  # fmt: skip
    return manifest, document, report


def _manifest(kind: str, revision: str, now: datetime, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": KIND,
        "format": FORMAT,
        "created_at": instant_text(now),
        "database": kind,
        "database_member": DATABASE_MEMBERS[kind],
        "revision": revision,
        "checkpoint_sha256": document["sha256"],
        "counts": counts(document).__dict__,
        "version": __version__,
    }


def verify_copy(opened: Opened) -> VerifyReport:
    """``audit verify`` of a SQLite backup's copy against the checkpoint it carries."""
    checkpoint = _checkpoint(opened)
    engine = create_store_engine(f"sqlite:///{opened.database}")
    try:
        return _verified(engine, checkpoint)
    finally:
        engine.dispose()


def _verified(engine: Engine, checkpoint: dict[str, Any]) -> VerifyReport:
    report = verify_store(engine)
    report.against = str(checkpoint["made_at"])
    report.breaches += check_against(engine, checkpoint)
    report.breaches.sort(key=lambda b: (b.where, b.seq or 0, b.kind, b.message))
    return report


# -- restore ---------------------------------------------------------------------------------------


def restore_backup(
    database_url: str,
    source: Path,
    now: datetime,
    *,
    force: bool,
    register_snapshots: str | None = None,
) -> Done:
    """Put the backup at ``source`` in place of the database at ``database_url``, and delete
    the daemon's files of its registers (``register_snapshots``: the ``register_snapshots_dir``
    setting; they hold the replaced database's marks)."""
    kind = _kind(database_url)
    with _scratch(None) as scratch:
        opened = _open(source, scratch)
        manifest = opened.manifest
        if manifest["database"] != kind:
            raise InputError(
                f"{source}: a backup of a {manifest['database']} database cannot be restored into "
                f"{kind} ({_safe(database_url)}): point ESCALATION_FLOW_DATABASE_URL at a "
                f"{manifest['database']} database"
            )
        _known_revision(source, manifest["revision"])
        checkpoint = _checkpoint(opened)
        with _held(database_url, kind, opened.database):
            replaced = _would_replace(database_url, checkpoint, now, opened.database, force=force)
            if kind == "sqlite":
                restore_database(opened.database, _sqlite_file(database_url))
            else:
                pg.restore(database_url, opened.database, str(manifest.get("pg_dump", "")))
            from escalation_flow.adapters.store import register_snapshots as files

            store = Store(database_url)
            try:
                store.migrate()  # a backup of an older release: its schema brought up to date
                with store.engine.begin() as conn:
                    record_restore(conn, _restore_row(opened, now, replaced))
                report = _verified(store.engine, checkpoint)
            finally:
                store.dispose()
                # the daemon's files of the registers hold the replaced database's marks:
                # deleted last, so that a folder that cannot be deleted (raised) leaves the
                # restore whole, its schema brought up to date and the restore recorded
                files.drop_snapshots(register_snapshots, database_url)
    get_logger(__name__).info(
        "backup.restored", file=str(source), database=kind, created_at=manifest["created_at"],
        replaced=list(replaced), ok=report.ok,
    )  # fmt: skip
    return Done(
        source, manifest, report, tuple(replaced),
        checkpoint_sha256=text_sha256(opened.checkpoint_text),
    )  # fmt: skip


def _restore_row(opened: Opened, now: datetime, replaced: list[str]) -> Restore:
    """The row, carrying the backup's checkpoint byte for byte: its sha256 is then that of the
    ``FILE.checkpoint.json`` the auditor holds (``audit verify --restored-from``)."""
    return Restore(
        restored_at=now,
        backup_created_at=datetime.fromisoformat(opened.manifest["created_at"]),
        backup_file=str(opened.path)[-500:],
        database_sha256=opened.manifest["database_sha256"],
        checkpoint=opened.checkpoint_text,
        replaced="; ".join(replaced),
    )


@contextmanager
def _held(database_url: str, kind: str, dumped: Path) -> Iterator[None]:
    """The daemon kept out for the restore: its lock taken (SQLite), or nobody else connected
    (PostgreSQL: and no table the dump would leave behind); a ``ConflictError`` saying who is
    there otherwise."""
    if kind == "sqlite":
        live = _sqlite_file(database_url)
        live.parent.mkdir(parents=True, exist_ok=True)  # a new machine: no folder yet
        lock = SqliteLock(live)
        lock.acquire()  # ConflictError naming the daemon's pid when it runs
        try:
            yield
        finally:
            lock.release()
        return
    engine = create_store_engine(database_url)
    try:
        others = pg.others_connected(engine)
        if not others:
            pg.check_no_other_tables(engine, dumped)
    finally:
        engine.dispose()
    if others:
        raise ConflictError(
            f"{len(others)} other connection(s) to {_safe(database_url)}: {', '.join(others)}; "
            "stop the daemon and the pages before restoring"
        )
    yield


def _would_replace(
    database_url: str, checkpoint: dict[str, Any], now: datetime, copy: Path, *, force: bool
) -> list[str]:
    """What the live database holds that the backup does not (restoring loses it); refused
    unless ``force``. A database with no schema yet holds nothing."""
    if _kind(database_url) == "sqlite" and not _sqlite_file(database_url).exists():
        return []
    engine = create_store_engine(database_url)
    try:
        revision = current_revision(engine)
        if revision is None:
            return []
        if revision != head_revision():
            if force:
                return [f"a database at revision {revision}, not compared"]
            raise ConflictError(
                f"{_safe(database_url)} is at revision {revision}, not {head_revision()}: what "
                "restoring would replace cannot be counted; give --force to restore over it"
            )
        live = make_checkpoint(engine, now)
        tables = tables_beyond(engine, copy)  # staff, roster, contacts...: not in checkpoints
    finally:
        engine.dispose()
    lost = beyond(live, checkpoint) + tables
    if lost and not force:
        raise ConflictError(
            f"{_safe(database_url)} is newer than the backup of {checkpoint['made_at']}: "
            f"restoring would lose {', '.join(lost)} (the database holds "
            f"{counts(live).text()}; the backup {counts(checkpoint).text()}); give --force to "
            "restore it anyway"
        )
    return lost


# -- shared ----------------------------------------------------------------------------------------


def _open(path: Path, scratch: Path) -> Opened:
    if not path.is_file():
        raise NotFoundError(f"{path}: no such backup file")
    folder = Path(tempfile.mkdtemp(dir=scratch))
    return open_backup(path, folder)


def _checkpoint(opened: Opened) -> dict[str, Any]:
    """The carried checkpoint, read as ``audit verify --against`` reads one (its own digest and
    shape checked)."""
    path = opened.database.parent / CHECKPOINT
    path.write_text(opened.checkpoint_text, encoding="utf-8")
    try:
        return read_checkpoint(path)
    except InputError as exc:
        raise InputError(f"{opened.path}: {CHECKPOINT}: {exc.summary}") from exc


def _known_revision(source: Path, revision: str) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from escalation_flow.adapters.store.schema import alembic_config

    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise InputError(
            f"{source}: manifest field revision: {revision!r} is not a schema this release "
            "knows (a backup of a newer release): restore it with that release"
        )


def _require_current(database_url: str) -> None:
    """The live schema is the newest (``db upgrade``): a checkpoint reads today's tables."""
    engine = create_store_engine(database_url)
    try:
        require_current(engine)
    finally:
        engine.dispose()


def _kind(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    if backend not in DATABASE_MEMBERS:
        raise InputError(
            f"{_safe(database_url)}: backup knows SQLite and PostgreSQL, not {backend}"
        )
    return backend


def _sqlite_file(database_url: str) -> Path:
    path = sqlite_path(database_url)
    if path is None:
        raise InputError("an in-memory database has no file to back up or restore: set one")
    return path


def _safe(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


@contextmanager
def _scratch(beside: Path | None) -> Iterator[Path]:
    """A private folder for the copy, removed on the way out (beside the target when given, so
    the copy does not fill a small /tmp)."""
    if beside is not None:
        beside.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".escalation-flow-backup-", dir=beside) as folder:
        yield Path(folder)


__all__ = ["Done", "restore_backup", "take_backup", "verify_copy"]
