"""The daemon's kept registers saved to files, so that its first evening after a restart need not
read every school's year whole (issue 13).

A file per school (Arrow IPC, ``KEPT_SCHEMA``'s decoded columns) holds what a ``RegisterMemory``
kept when the daemon stopped: the rows, the calendar key they were decoded on, and for each import
they came from its fingerprint in the ``imports`` table (id, sha256, started and finished
instants). The files of one database sit in a folder named by a hash of its URL (password left
out), so another database never sees them.

**The database is the truth; a file is only a candidate.** It is used only when, in one
consistent read (SQLite's deferred transaction, PostgreSQL's REPEATABLE READ), the database
proves the file's rows are exactly its rows of those imports:

- the file is whole and ours: format version, the database's hash, the school, the calendar key
  (its school days' digest among it), the table of codes its code ids index (a release that
  changes the table reads a code id otherwise), the columns' types, a checksum over every
  column's bytes, the rows in the load order;
- each import of the file is still in ``imports`` with the same fingerprint (a restore, a
  recreated database, a reused id: a mismatch);
- for each import of the file, the school's rows of it in the calendar's dates are as many as the
  file's (marks are never updated; a deletion — erasure, retention — leaves fewer: a mismatch),
  and no import the file holds as checked-without-rows has rows now.

Marks are never updated, and an import is committed whole under its fingerprint, so an import's
stored rows are a subset of the rows it wrote; the same count is the same rows. Rows of imports
the file does not hold (imported since, by this daemon or another) are read as the kept read reads
new imports. Anything else: the file is rejected (``register_snapshot.rejected``, with the
reason) and the school is read whole, as without files. A mark edited in place behind the
service's back is what ``audit verify`` names, as for the rows kept in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import structlog
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import URL, make_url

from escalation_flow.adapters.store.kept_registers import (
    KEPT_SCHEMA,
    CalendarKey,
    KeptMarks,
    _in_load_order,
    kept_of,
    kept_sql,
)
from escalation_flow.adapters.store.models import Import, table_of
from escalation_flow.core import codes
from escalation_flow.core.calendar import SchoolCalendar

log = structlog.get_logger(__name__)

#: The file's layout; another is never read.
VERSION = "2"
_COLUMNS = ("pupil_id", "session", "code", "recorded_at", "minutes_late", "import_id")
_SCHEMA = pa.schema(
    [
        ("pupil_id", pa.int64()),
        ("session", pa.int32()),
        ("code", pa.int8()),
        ("recorded_at", pa.int64()),
        ("minutes_late", pa.int16()),
        ("import_id", pa.int64()),
    ]
)

#: An import as the ``imports`` table names it: sha256, started and finished instants.
Fingerprint = str


class RejectedError(Exception):
    """A snapshot the database does not prove (the reason is the message)."""


@dataclass(frozen=True)
class Candidate:
    """A school's rows from its file, not yet proved by the database; ``fingerprints``: the
    file's imports. Imports merged in by this process (``RegisterMemory.add_import``) are in
    ``kept`` but not in ``fingerprints``."""

    kept: KeptMarks
    fingerprints: Mapping[int, Fingerprint]


def database_key(url: str | URL) -> str:
    """The folder of one database's files: a hash of its URL without the password."""
    shown = make_url(url).render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:24]


def default_dir(url: str | URL, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the files go when the setting is unset: a SQLite file's beside it (none for an
    in-memory one); a server database's under systemd's ``$STATE_DIRECTORY`` (the deploy units'
    ``StateDirectory=escalation-flow``), else ``$XDG_STATE_HOME/escalation-flow`` (by default
    ``~/.local/state/escalation-flow``), in ``register-snapshots``."""
    env = os.environ if environ is None else environ
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite":
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).parent / "register-snapshots"
    state = env.get("STATE_DIRECTORY", "").split(":")[0]  # systemd: the first, if several
    if state:
        return Path(state) / "register-snapshots"
    xdg = env.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "escalation-flow" / "register-snapshots"


def snapshots_root(
    setting: str | None, url: str | URL, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The folder of the kept registers' files from ``register_snapshots_dir``: the setting;
    unset (None), ``default_dir``; empty, none. The one resolution: the daemon's, and that of
    the commands that delete a database's files (``drop_snapshots``)."""
    if setting is None:
        return default_dir(url, environ)
    return Path(setting) if setting else None


def snapshots_folder(
    setting: str | None, url: str | URL, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The folder of one database's files (``RegisterSnapshots.folder``), or None."""
    root = snapshots_root(setting, url, environ)
    return None if root is None else root / database_key(url)


def drop_snapshots(
    setting: str | None, url: str | URL, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Delete the database's files (they are a cache of its marks): after an erasure, a
    retention run or a restore. The folder deleted, or None when there was none."""
    folder = snapshots_folder(setting, url, environ)
    if folder is None or not folder.exists():
        return None
    shutil.rmtree(folder)
    log.info("register_snapshot.dropped", folder=str(folder))
    return folder


def _private_dir(path: Path) -> None:
    """``path`` made if missing (its missing parents too), each folder made here 0700 whatever
    the umask; ``path`` itself always 0700."""
    if not path.exists():
        if not path.parent.exists():
            _private_dir(path.parent)
        with contextlib.suppress(FileExistsError):  # made beside us: made private below
            path.mkdir(mode=0o700)
    path.chmod(0o700)


class RegisterSnapshots:
    """The files of one database's kept registers under ``root``."""

    def __init__(self, root: Path, url: str | URL) -> None:
        self.root = root
        self.database = database_key(url)
        self.folder = root / self.database

    def path(self, school: str) -> Path:
        return self.folder / f"{hashlib.sha256(school.encode()).hexdigest()[:32]}.arrow"

    def exists(self, school: str) -> bool:
        """Whether the school has a file; False too when the folder cannot be looked into
        (another user's, made by a daemon run once as root): the files are a cache, and an
        import (``RegisterMemory.keeps``) or an evening never fails for one."""
        try:
            return self.path(school).is_file()
        except OSError:
            return False

    def write(self, kept: KeptMarks, fingerprints: Mapping[int, Fingerprint]) -> bool:
        """Write ``kept`` whole or not at all (a temporary name, fsync, rename); False when an
        import of it has no fingerprint (gone from the database: nothing to prove it by)."""
        if not kept.imports <= fingerprints.keys():
            return False
        columns = [np.ascontiguousarray(getattr(kept, n)) for n in _COLUMNS]
        meta = {
            "version": VERSION,
            "database": self.database,
            "school": kept.school,
            "calendar": json.dumps([str(v) for v in kept.calendar]),
            "codes": _codes(),
            "fingerprints": json.dumps({str(i): fingerprints[i] for i in sorted(kept.imports)}),
            "checked": json.dumps(sorted(kept.checked - kept.imports)),
            "rows": str(len(kept)),
            "checksum": _checksum(columns),
        }
        table = pa.table([pa.array(c) for c in columns], schema=_SCHEMA.with_metadata(meta))
        if not self.root.exists():
            _private_dir(self.root)  # made here: private (a folder given is left as it is)
        _private_dir(self.folder)
        path = self.path(kept.school)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            temporary.unlink(missing_ok=True)  # a crashed writer's: made afresh, 0600
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.fchmod(handle, 0o600)  # whatever the umask
            with os.fdopen(handle, "wb") as out:
                with pa.ipc.new_file(out, table.schema) as writer:
                    writer.write_table(table)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return True

    def read(self, school: str, calendar: CalendarKey) -> Candidate | None:
        """The school's file as a candidate, or None (no file, or rejected: logged)."""
        path = self.path(school)
        if not self.exists(school):
            return None
        try:
            return self._read(path, school, calendar)
        except Exception as exc:  # a file torn, truncated, foreign or of another layout
            reject(school, f"file: {exc}")
            self.delete(school)
            return None

    def delete(self, school: str) -> None:
        """A school's file gone (rejected: it can never be used, and it holds marks); one
        that cannot be deleted is logged, and the school read whole all the same."""
        try:
            self.path(school).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("register_snapshot.not_deleted", school=school, error=str(exc))

    def _read(self, path: Path, school: str, calendar: CalendarKey) -> Candidate:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if meta.get("version") != VERSION:
            raise RejectedError(f"version {meta.get('version')!r}")
        if meta.get("database") != self.database or meta.get("school") != school:
            raise RejectedError("another database's or school's file")
        if json.loads(meta["calendar"]) != [str(v) for v in calendar]:
            raise RejectedError("another calendar")
        if meta.get("codes") != _codes():
            raise RejectedError("another table of codes")
        if not table.schema.remove_metadata().equals(_SCHEMA):
            raise RejectedError("columns differ")
        if table.num_rows != int(meta["rows"]):
            raise RejectedError("row count differs")
        columns = [
            np.ascontiguousarray(table.column(n).to_numpy(zero_copy_only=False)) for n in _COLUMNS
        ]
        if _checksum(columns) != meta["checksum"]:
            raise RejectedError("checksum differs")
        fingerprints = {int(i): str(f) for i, f in json.loads(meta["fingerprints"]).items()}
        imports = frozenset(int(i) for i in np.unique(columns[5]))
        if imports != fingerprints.keys():
            raise RejectedError("imports differ from the rows'")
        checked = frozenset(int(i) for i in json.loads(meta["checked"]))
        pupil_id, session, code, recorded_at, minutes_late, import_id = columns
        kept = KeptMarks(
            school,
            calendar,
            pupil_id,
            session,
            code,
            recorded_at,
            minutes_late,
            import_id,
            imports=imports,
            checked=checked,
        )
        if not _in_load_order(kept):
            raise RejectedError("rows not in load order")
        return Candidate(kept, fingerprints)


def _codes() -> str:
    """The table the files' code ids index (``core.codes.CODE_OF_ID``), as text."""
    return json.dumps(list(codes.CODE_OF_ID))


def reject(school: str, reason: str) -> None:
    log.warning("register_snapshot.rejected", school=school, reason=reason)


def _checksum(columns: list[npt.NDArray[Any]]) -> str:
    digest = hashlib.sha256()
    for column in columns:
        digest.update(str(column.dtype).encode())
        digest.update(len(column).to_bytes(8, "little"))
        digest.update(column.tobytes())
    return digest.hexdigest()


def fingerprints(conn: Connection, ids: Collection[int] | None = None) -> dict[int, Fingerprint]:
    """Each marks import's fingerprint (of ``ids`` only, when given)."""
    t = table_of(Import)
    query = select(t.c.id, t.c.sha256, t.c.started_at, t.c.finished_at).where(t.c.kind == "marks")
    if ids is not None:
        if not ids:
            return {}
        query = query.where(t.c.id.in_(sorted(ids)))
    return {
        int(i): json.dumps([sha, _instant(started), _instant(finished)])
        for i, sha, started, finished in conn.execute(query)
    }


def retention_runs(conn: Connection) -> int:
    """The retention runs recorded: one more at a daemon's stop than at its start, and the
    marks it kept may hold some the run erased (its files are then not written)."""
    from escalation_flow.adapters.store.erasure import RETENTION_CHAIN, RETENTION_RUN
    from escalation_flow.adapters.store.records import RECORDS

    r = RECORDS.c
    query = select(func.count()).where(r.chain == RETENTION_CHAIN, r.kind == RETENTION_RUN)
    return int(conn.execute(query).scalar_one())


def _instant(value: object) -> str:
    """An instant's text whatever the session's time zone (PostgreSQL's ``TimeZone``)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).isoformat()
    return str(value)


def prove(
    conn: Connection,
    candidate: Candidate,
    school_id: int,
    calendar: SchoolCalendar,
    listed: frozenset[int],
) -> KeptMarks:
    """The candidate's rows with the rows of imports it does not hold, proved by the database
    to be the school's rows (``RejectedError`` else), all read in ``conn``'s one transaction;
    ``listed``: the marks imports listed in that transaction. Every listed import is then
    ``checked``: its rows, if any, are among these."""
    kept = candidate.kept
    stored = fingerprints(conn, candidate.fingerprints.keys())
    for i, print_ in candidate.fingerprints.items():
        if stored.get(i) != print_:
            raise RejectedError(f"import {i} is not the one the file was made from")
    dialect = conn.dialect.name
    counts = _counts(conn, dialect, school_id, calendar)
    held = dict(zip(*np.unique(kept.import_id, return_counts=True), strict=True))
    for i, n in held.items():
        if counts.get(int(i), 0) != int(n):
            raise RejectedError(
                f"import {int(i)}: {counts.get(int(i), 0)} rows stored, {int(n)} kept"
            )
    new = {i for i in counts if i not in kept.imports}
    if new & kept.checked:
        raise RejectedError("an import known to have no rows for the school has some")
    if new:
        from escalation_flow.adapters.store.bulk import fetch

        sql = kept_sql(dialect, school_id, calendar, kept.imports)
        rows = fetch(conn, sql, KEPT_SCHEMA, unordered=True)  # kept_of orders
        more = kept_of(kept.school, calendar, rows)
        got = dict(zip(*np.unique(more.import_id, return_counts=True), strict=True))
        if {int(i): int(n) for i, n in got.items()} != {i: counts[i] for i in new}:
            raise RejectedError("new imports' rows changed while read")  # never in one transaction
        kept = kept.with_rows(more)
    return replace(kept, checked=kept.checked | listed)


def _counts(
    conn: Connection, dialect: str, school_id: int, calendar: SchoolCalendar
) -> dict[int, int]:
    """The school's rows in the calendar's dates, by import (the kept read's ``WHERE``)."""
    base = kept_sql(dialect, school_id, calendar)
    where = base.split(" FROM marks ", 1)[1].split(" ORDER BY ", 1)[0]
    sql = f"SELECT import_id, count(*) FROM marks {where} GROUP BY import_id"
    return {int(i): int(n) for i, n in conn.exec_driver_sql(sql)}
