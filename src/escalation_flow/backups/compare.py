"""Two checkpoints compared: what one holds that the other does not.

Restore uses it to say what restoring would lose (the live database's checkpoint against the
backup's); ``audit verify`` after a restore uses it to name which of an auditor's checkpoint's
entries the restored backup never held. Pure: documents in, words out.

The checkpoint sees cases, history, marks, letters, tasks and chains only. Everything else
people did or imported is compared table by table (``TABLES``, every table of the schema
classified once) between the live database and the backup's own copy: rows the copy has not,
or has otherwise, named by kind ("3 staff accounts, 1 penalty notice"). The readers of the two
databases are at the end of the module; the comparison and its words are pure.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect, text

from escalation_flow.adapters.store.erasure import RETENTION_CHAIN, RETENTION_RUN
from escalation_flow.audit.checkpoint import OPEN
from escalation_flow.errors import StoreError


@dataclass(frozen=True)
class Counts:
    """How much a checkpoint saw."""

    cases: int
    history_records: int
    marks: int
    letters: int
    tasks: int
    later_records: int

    def text(self) -> str:
        return (
            f"{self.cases} cases, {self.history_records} history records, {self.marks} marks, "
            f"{self.letters} letters, {self.tasks} tasks, {self.later_records} later records"
        )


def counts(checkpoint: Mapping[str, Any]) -> Counts:
    return Counts(
        cases=len(checkpoint["cases"]),
        history_records=sum(c["length"] for c in checkpoint["cases"]),
        marks=sum(s["marks"] for s in checkpoint["schools"].values()),
        letters=len(checkpoint["letters"]),
        tasks=len(checkpoint["tasks"]),
        later_records=sum(n for n, _ in checkpoint.get("records", {}).values()),
    )


def case_lengths(checkpoint: Mapping[str, Any]) -> dict[str, int]:
    return {f"{c['school']}/{c['pupil']}": c["length"] for c in checkpoint["cases"]}


def beyond(newer: Mapping[str, Any], older: Mapping[str, Any]) -> list[str]:
    """What ``newer`` saw that ``older`` did not, one line a kind (empty: nothing). A case, a
    chain, a school's marks or seals longer; a letter or a task completion ``older`` has not
    (or had otherwise)."""
    out = []
    was = case_lengths(older)
    longer = {k: n - was.get(k, 0) for k, n in case_lengths(newer).items() if n > was.get(k, 0)}
    if longer:
        out.append(f"{sum(longer.values())} history records of {len(longer)} cases")
    marks = sum(
        max(0, s["marks"] - older["schools"].get(k, {}).get("marks", 0))
        for k, s in newer["schools"].items()
    )
    if marks:
        out.append(f"{marks} marks")
    for name, on in (("letters", _letter_on), ("tasks", _task_on)):
        changed = [k for k, v in newer[name].items() if on(v, older[name].get(k))]
        if changed:
            out.append(f"{len(changed)} {name} (new, or changed since)")
    chains = older.get("records", {})
    later = sum(
        n - chains.get(k, [0])[0]
        for k, (n, _) in newer.get("records", {}).items()
        if n > chains.get(k, [0])[0]
    )
    if later:
        out.append(f"{later} later records (letters' approvals, completions, the audit log)")
    return out


def _letter_on(new: list[Any], old: list[Any] | None) -> bool:
    """Whether a letter ``[case, html, pdf, approval]`` holds what ``old`` did not: it is new,
    its words differ, or its PDF or approval came since (both are written once)."""
    if old is None:
        return True
    if new[:2] != old[:2]:
        return True
    return any(o is None and n is not None for n, o in zip(new[2:], old[2:], strict=False))


def _task_on(new: list[Any], old: list[Any] | None) -> bool:
    """Whether a task ``[case, status, completion]`` holds what ``old`` did not: it is new,
    or it was completed since (or otherwise than ``old`` has it)."""
    if old is None:
        return True
    return new != old and new[1] != OPEN


# -- the tables: what the live database holds that the backup copy does not ---------------------
#
# The audit checkpoint only sees the cases, their history, marks, letters, tasks and the chains.
# Everything else people did or imported (staff, roster, contacts, penalty notices, holds...) is
# compared here, table by table, between the live database and the backup's own copy. Every
# table of the schema is named below, once: a test fails when a migration adds one that is not,
# so what restoring loses cannot silently grow.

#: Compared row by row on their primary key: a row the backup has not, or has otherwise.
KEPT = "kept"
#: Compared by the checkpoint (``beyond``): cases, their history, marks, letters, tasks, chains.
CHECKPOINT = "checkpoint"
#: Worked out again from what is kept: losing it loses nothing.
DERIVED = "derived"
#: Not worth keeping across a restore: sign-ins and sessions end with it anyway.
NOT_KEPT = "not kept"
#: The database's own bookkeeping, written again by the restore itself.
BOOKKEEPING = "bookkeeping"


@dataclass(frozen=True)
class Table:
    """How one table is compared, and the words for its rows."""

    how: str
    one: str = ""
    many: str = ""
    why: str = ""
    #: For a table whose rows are versions: (column, value) of a first version; a later row
    #: is a change, named ``changes`` (one, many).
    first: tuple[str, str] | None = None
    changes: tuple[str, str] = ("", "")


TABLES: dict[str, Table] = {
    # what people did or imported: compared row by row
    "staff": Table(KEPT, "staff account", "staff accounts"),
    "staff_roles": Table(KEPT, "staff role", "staff roles"),
    "audit_log": Table(KEPT, "staff audit log entry", "staff audit log entries"),
    "imports": Table(KEPT, "import", "imports"),
    "schools": Table(KEPT, "school", "schools"),
    "pupils": Table(KEPT, "pupil on the roster", "pupils on the roster"),
    "contacts": Table(KEPT, "contact record", "contact records"),
    "penalty_notices": Table(
        KEPT,
        "penalty notice",
        "penalty notices",
        first=("version", "1"),
        changes=("penalty notice change", "penalty notice changes"),
    ),
    "retention_holds": Table(KEPT, "retention hold", "retention holds"),
    "outbox": Table(KEPT, "outbox message", "outbox messages"),
    "family_evenings": Table(KEPT, "family evening", "family evenings"),
    "family_evening_pupils": Table(KEPT, "family evening invitation", "family evening invitations"),
    "meeting_actions": Table(KEPT, "meeting action", "meeting actions"),
    "la_notifications": Table(
        KEPT, "local authority notification", "local authority notifications"
    ),
    "task_acks": Table(KEPT, "task acknowledgement", "task acknowledgements"),
    "flow_versions": Table(KEPT, "flow version", "flow versions"),
    # what the audit checkpoint compares (retention runs are named from chain_records below)
    "cases": Table(CHECKPOINT, why="cases and their history length: the checkpoint"),
    "case_events": Table(CHECKPOINT, why="a case's history: the checkpoint"),
    "tasks": Table(CHECKPOINT, why="tasks and their completions: the checkpoint"),
    "letters": Table(CHECKPOINT, why="letters, their PDFs and approvals: the checkpoint"),
    "timers": Table(CHECKPOINT, why="armed from a case's state: they go back with the case"),
    "marks": Table(CHECKPOINT, why="marks per school: the checkpoint"),
    "mark_seals": Table(CHECKPOINT, why="the marks' seals: the checkpoint"),
    "chain_records": Table(CHECKPOINT, why="the chains: the checkpoint's later records"),
    "school_days": Table(CHECKPOINT, why="the days evaluated: they go back with the cases"),
    # derived, or not worth keeping
    "school_figures": Table(DERIVED, why="counted again from the marks and cases"),
    "school_pages": Table(DERIVED, why="a school page's figures, kept again by the evening"),
    "web_sessions": Table(NOT_KEPT, why="sessions: people sign in again"),
    "login_attempts": Table(NOT_KEPT, why="failed and good sign-ins: only throttling reads them"),
    "oidc_sign_ins": Table(NOT_KEPT, why="half-done single sign-ons: minutes long"),
    "alembic_version": Table(BOOKKEEPING, why="the schema revision: the restore upgrades it"),
    "restores": Table(BOOKKEEPING, why="the restores: the restore writes its own row after"),
}

#: Text as both readers give it: every value as ``str`` (None stays None), so a SQLite row read
#: through SQLAlchemy and a PostgreSQL row read as COPY text compare within their own kind.
Row = tuple[str | None, ...]


@dataclass(frozen=True)
class Rows:
    """One table's rows as read from one database: its columns, and each row by its key."""

    columns: tuple[str, ...]
    keyed: dict[Row, Row]


def table_lines(live: Mapping[str, Rows], backup: Mapping[str, Rows]) -> list[str]:
    """What the ``live`` tables hold that the ``backup`` tables do not, one line a kind: rows
    new since the backup, and rows it holds otherwise ("changed since"). A table the backup
    has not at all (an older schema) counts all its rows; a column only one side has (an
    older schema's backup) is left out of the comparison."""
    out = []
    for name, table in TABLES.items():
        if table.how != KEPT or name not in live:
            continue
        now, then = _common(live[name], backup.get(name, Rows(live[name].columns, {})))
        new = [row for key, row in now.keyed.items() if key not in then.keyed]
        changed = sum(
            1 for key, row in now.keyed.items() if key in then.keyed and then.keyed[key] != row
        )
        out += _new_words(table, now.columns, new)
        if changed:
            out.append(f"{_counted(changed, table.one, table.many)} changed since")
    return out


def _common(now: Rows, then: Rows) -> tuple[Rows, Rows]:
    """``now`` and ``then`` over the columns both have (in ``now``'s order)."""
    if now.columns == then.columns or not then.keyed:
        return now, then
    columns = tuple(c for c in now.columns if c in then.columns)
    return _project(now, columns), _project(then, columns)


def _project(rows: Rows, columns: tuple[str, ...]) -> Rows:
    at = [rows.columns.index(c) for c in columns]
    return Rows(columns, {k: tuple(r[i] for i in at) for k, r in rows.keyed.items()})


def _new_words(table: Table, columns: tuple[str, ...], new: list[Row]) -> list[str]:
    if not new:
        return []
    if table.first is None:
        return [_counted(len(new), table.one, table.many)]
    at = columns.index(table.first[0])
    firsts = sum(1 for row in new if row[at] == table.first[1])
    out = [_counted(firsts, table.one, table.many)] if firsts else []
    if len(new) > firsts:
        out.append(_counted(len(new) - firsts, *table.changes))
    return out


def retention_run_lines(live: list[dict[str, Any]], backup: list[dict[str, Any]]) -> list[str]:
    """The retention runs (their record bodies, by run number ``run``) the backup has not: a
    restore brings back what they erased, so say how much and what to do."""
    held = {int(r["run"]) for r in backup}
    new = [r for r in live if int(r["run"]) not in held]
    if not new:
        return []
    total = {
        kind: sum(int(r.get("counts", {}).get(kind, 0)) for r in new)
        for kind in ("cases", "marks", "letters", "tasks", "pupils")
    }
    erased = ", ".join(f"{n} {kind}" for kind, n in total.items() if n or kind == "cases")
    it = "it" if len(new) == 1 else "they"
    return [
        f"{_counted(len(new), 'retention run', 'retention runs')} ({it} erased {erased}: a "
        "restore brings them back; run retention apply again after)"
    ]


def _counted(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- reading the tables (the edge: the words above are pure) -------------------------------------


def engine_tables(engine: Engine) -> tuple[dict[str, Rows], list[dict[str, Any]]]:
    """The kept tables of the database behind ``engine``, and its retention runs' bodies, read
    as stored (no type conversion: both sides of a comparison are read alike)."""
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    out = {}
    with engine.connect() as conn:
        for name, table in TABLES.items():
            if table.how != KEPT or name not in present:
                continue
            key = inspector.get_pk_constraint(name)["constrained_columns"]
            result = conn.execute(text(f'SELECT * FROM "{name}"'))  # names: TABLES'
            columns = tuple(result.keys())
            at = [columns.index(k) for k in key]
            rows = [tuple(None if v is None else str(v) for v in r) for r in result]
            out[name] = Rows(columns, {tuple(r[i] for i in at): r for r in rows})
        runs = _runs(conn) if "chain_records" in present else []
    return out, runs


def _runs(conn: Connection) -> list[dict[str, Any]]:
    query = text(
        "SELECT seq, body FROM chain_records WHERE chain = :chain AND kind = :kind ORDER BY seq"
    )
    found = conn.execute(query, {"chain": RETENTION_CHAIN, "kind": RETENTION_RUN})
    return [json.loads(body) | {"run": int(seq)} for seq, body in found]


def sqlite_beyond(live: Engine, copy: Path) -> list[str]:
    """What the live database holds that the SQLite backup ``copy`` does not, beyond what the
    checkpoint compares: the kept tables, then the retention runs. The copy is opened read
    only (its bytes were checked against the manifest and are restored as they are)."""
    uri = f"{copy.resolve().as_uri()}?mode=ro"  # quoted: a folder named with spaces or '?'
    backup = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        then, then_runs = engine_tables(backup)
    finally:
        backup.dispose()
    now, now_runs = engine_tables(live)
    return table_lines(now, then) + retention_run_lines(now_runs, then_runs)


def tables_beyond(live: Engine, copy: Path) -> list[str]:
    """What the live database holds that the backup's ``copy`` (SQLite file or ``pg_dump``
    archive, as the live database is) does not, beyond what the checkpoint compares."""
    if live.dialect.name == "sqlite":
        return sqlite_beyond(live, copy)
    return postgres_beyond(live, copy)


def postgres_beyond(live: Engine, copy: Path) -> list[str]:
    """As ``sqlite_beyond``, for a ``pg_dump`` archive: its kept tables read back as the COPY
    text ``pg_restore`` writes (no scratch database), the live ones as COPY text too, so both
    sides are the same text for the same row."""
    kept = [name for name, table in TABLES.items() if table.how == KEPT]
    then = _copy_blocks(_restored_text(copy, [*kept, "chain_records"]))
    now: dict[str, Rows] = {}
    present = set(inspect(live).get_table_names())
    raw = live.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        for name in kept:
            if name in present:
                now[name] = _live_copy(cursor, name, _columns(live, name), _key(live, name))
    finally:
        raw.close()
    for name in kept:
        if name in then and name in now:
            then[name] = _keyed(then[name], _key(live, name))
    with live.connect() as conn:
        now_runs = _runs(conn)
    return table_lines(now, then) + retention_run_lines(now_runs, _dumped_runs(then))


def _restored_text(copy: Path, tables: list[str]) -> str:
    """The data of ``tables`` in the archive at ``copy``, as ``pg_restore`` writes it."""
    from escalation_flow.backups.postgres_dump import program

    args = [program("pg_restore"), "--data-only", "--file=-"]
    args += [f"--table={t}" for t in tables] + [str(copy)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StoreError(
            f"{copy}: pg_restore could not read the backup's tables to compare them (exit "
            f"{done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    return done.stdout


_COPY = re.compile(r'^COPY (?:\w+\.)?"?(\w+)"? \((.*)\) FROM stdin;$')


def _copy_blocks(script: str) -> dict[str, Rows]:
    """Each table's COPY block of ``script``: its columns and rows (keyed by whole row until
    ``_keyed`` knows the key), each value as COPY text with ``\\N`` for NULL."""
    out: dict[str, Rows] = {}
    name: str | None = None
    columns: tuple[str, ...] = ()
    rows: list[Row] = []
    for line in script.split("\n"):
        if name is None:
            found = _COPY.match(line)
            if found:
                name, rows = found.group(1), []
                columns = tuple(c.strip().strip('"') for c in found.group(2).split(","))
        elif line == "\\.":
            out[name] = Rows(columns, {row: row for row in rows})
            name = None
        elif name != "chain_records" or _fields(line)[columns.index("chain")] == RETENTION_CHAIN:
            rows.append(_fields(line))  # of the chains, only retention's runs are compared
    return out


def _fields(line: str) -> Row:
    return tuple(None if v == "\\N" else _instant(v) for v in line.split("\t"))


_INSTANT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?$")


def _instant(value: str) -> str:
    """A ``timestamptz`` as one text whatever the session's time zone (the dump's was set where
    and when it was taken, perhaps elsewhere); any other value as it is."""
    if not _INSTANT.match(value):
        return value
    return datetime.fromisoformat(value).astimezone(UTC).isoformat()


def _keyed(rows: Rows, key: list[str]) -> Rows:
    at = [rows.columns.index(k) for k in key]
    return Rows(rows.columns, {tuple(r[i] for i in at): r for r in rows.keyed.values()})


def _key(engine: Engine, name: str) -> list[str]:
    return list(inspect(engine).get_pk_constraint(name)["constrained_columns"])


def _columns(engine: Engine, name: str) -> tuple[str, ...]:
    return tuple(c["name"] for c in inspect(engine).get_columns(name))


def _live_copy(cursor: Any, name: str, columns: tuple[str, ...], key: list[str]) -> Rows:
    listed = ", ".join(f'"{c}"' for c in columns)
    data = bytearray()
    # as pg_dump sets its session (the transaction ends when the connection goes back)
    cursor.execute("SET LOCAL DateStyle = ISO")
    cursor.execute("SET LOCAL extra_float_digits = 3")
    with cursor.copy(f'COPY "{name}" ({listed}) TO STDOUT') as copying:
        for chunk in copying:
            data += chunk
    rows = [_fields(line) for line in data.decode("utf-8").split("\n") if line]
    at = [columns.index(k) for k in key]
    return Rows(columns, {tuple(r[i] for i in at): r for r in rows})


def _dumped_runs(tables: Mapping[str, Rows]) -> list[dict[str, Any]]:
    """The retention runs in the dump's ``chain_records`` (only their numbers are compared)."""
    if "chain_records" not in tables:
        return []
    records = tables["chain_records"]
    chain, kind, seq = (records.columns.index(c) for c in ("chain", "kind", "seq"))
    return [
        {"run": int(str(r[seq]))}
        for r in records.keyed.values()
        if r[chain] == RETENTION_CHAIN and r[kind] == RETENTION_RUN
    ]
