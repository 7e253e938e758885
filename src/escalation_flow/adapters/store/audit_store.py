"""The audit's reads and writes: flow versions kept by their text, seals over marks, and the
whole-store check behind ``escalation-flow audit verify``.

``store_flow_version(conn, flow, now)`` is the hook the service calls (in the transaction that
writes a case's records) so that every version a decision was taken under can be re-run later;
``seal_imports(conn, now)`` seals every import not yet sealed (call it in the import's
transaction, or let ``audit seal`` do it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from escalation_flow.adapters.store.audit_models import FlowVersionRow, MarkSealRow
from escalation_flow.adapters.store.cases import (
    CASES,
    EVENTS,
    LETTERS,
    SCHOOLS,
    TASKS,
    history,
    school_ids,
)
from escalation_flow.adapters.store.models import Import, Mark, Pupil, table_of
from escalation_flow.adapters.store.seal_columns import Sealed, sealed
from escalation_flow.adapters.store.seals import MarkRow, Seal, columns_of, seal_hash
from escalation_flow.adapters.store.staff_models import AuditEntry
from escalation_flow.core.chain import GENESIS
from escalation_flow.core.definition import Flow
from escalation_flow.core.marks import to_micros
from escalation_flow.errors import FlowError, InputError, StoreError
from escalation_flow.stored import HistoryRow

FLOW_VERSIONS = table_of(FlowVersionRow)
SEALS = table_of(MarkSealRow)
MARKS = table_of(Mark)
PUPILS = table_of(Pupil)
IMPORTS = table_of(Import)
AUDIT_LOG = table_of(AuditEntry)

#: ``imports.seal``: how an import's marks were sealed.
SEALED, NO_SEAL, SEALED_LATER, FORCED = "sealed", "no_seal", "sealed_later", "forced"


# -- flow versions ---------------------------------------------------------------------------------


def store_flow_version(conn: Connection, flow: Flow, now: datetime) -> bool:
    """Keep ``flow``'s text under its version, if not kept yet; True when it was new.

    The text is the one the flow was loaded from (else its file, read again); it must hash to
    the version (a file edited since would be kept under the wrong version: refused).
    """
    found = conn.execute(
        select(FLOW_VERSIONS.c.version).where(FLOW_VERSIONS.c.version == flow.version)
    ).first()
    if found is not None:
        return False
    try:
        raw = flow.text.encode("utf-8") if flow.text is not None else Path(flow.path).read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot keep flow {flow.id}: {flow.path}: {exc.strerror}") from exc
    if hashlib.sha256(raw).hexdigest() != flow.version:
        raise StoreError(
            f"flow file {flow.path} changed since it was loaded as version {flow.version[:12]}; "
            "reload it before evaluating"
        )
    insert_ = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = insert_(FLOW_VERSIONS).values(
        version=flow.version, flow=flow.id, yaml=raw.decode("utf-8"), first_seen=now
    )
    conn.execute(statement.on_conflict_do_nothing(index_elements=["version"]))
    return True


def flow_texts(conn: Connection, versions: Collection[str] | None = None) -> dict[str, str]:
    query = select(FLOW_VERSIONS.c.version, FLOW_VERSIONS.c.yaml)
    if versions is not None:
        query = query.where(FLOW_VERSIONS.c.version.in_(list(versions)))
    return {str(r[0]): str(r[1]) for r in conn.execute(query)}


def load_flow_versions(
    conn: Connection, versions: Collection[str] | None = None
) -> dict[str, Flow]:
    """Every stored version (or those named) as a checked ``Flow``."""
    return {v: flow_from_text(text, v) for v, text in flow_texts(conn, versions).items()}


def flow_from_text(text: str, version: str) -> Flow:
    """A stored flow text back into a ``Flow`` (through the flow loader and all its checks)."""
    from escalation_flow.adapters.flow_files import load_flow

    raw = text.encode("utf-8")
    if hashlib.sha256(raw).hexdigest() != version:
        raise FlowError(f"stored flow version {version[:12]} does not hash to its version")
    with tempfile.TemporaryDirectory(prefix="escalation-flow-") as folder:
        path = Path(folder) / f"{version[:12]}.yaml"
        path.write_bytes(raw)
        flow = load_flow(path)
    return dataclasses.replace(flow, path=f"flow_versions:{version[:12]}")


# -- seals over marks ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Forced:
    """``audit seal --force``: who sealed imports that were not imported --no-seal, and why."""

    by: str
    reason: str


def seal_imports(
    conn: Connection, now: datetime, forced: Forced | None = None
) -> list[tuple[str, int, int]]:
    """Seal every (school, import) with marks and no seal yet, oldest import first.

    Only imports recorded as imported --no-seal are sealed: any other import's seal was made in
    its transaction, so a seal missing now was deleted, and sealing the marks as they stand
    would launder an edit. Those are refused (``InputError``, naming them) unless ``forced``,
    which is recorded on the import and, with its reason, in the audit log.

    Returns (school, import id, rows) per new seal.
    """
    m, s = MARKS.c, SEALS.c
    present = [tuple(r) for r in conn.execute(select(m.school_id, m.import_id).distinct())]
    sealed = {tuple(r) for r in conn.execute(select(s.school_id, s.import_id))}
    todo: dict[int, list[int]] = defaultdict(list)
    for school_id, import_id in sorted(present):
        if (school_id, import_id) not in sealed:
            todo[school_id].append(import_id)
    how = import_seals(conn)
    refused = sorted({i for ids in todo.values() for i in ids if how.get(i) != NO_SEAL})
    if refused and forced is None:
        raise InputError(
            f"import(s) {', '.join(map(str, refused))} were not imported --no-seal: their seal "
            "was deleted (or their marks written outside an import), and sealing them now "
            "would seal whatever was changed; run `audit verify`, and only if the marks are "
            "known good, `audit seal --force --by STAFF --reason TEXT`"
        )
    out = _seal(conn, todo, now)
    done = {i for ids in todo.values() for i in ids}
    _mark_sealed(conn, done - set(refused), SEALED_LATER)
    if refused and forced is not None:
        _mark_sealed(conn, set(refused), FORCED)
        _record_forced(conn, refused, forced, now)
    return out


def import_seals(conn: Connection) -> dict[int, str | None]:
    """How each import was sealed (``imports.seal``), by import id."""
    i = IMPORTS.c
    return {int(r[0]): r[1] for r in conn.execute(select(i.id, i.seal))}


def _mark_sealed(conn: Connection, ids: Collection[int], how: str) -> None:
    if ids:
        i = IMPORTS.c
        conn.execute(update(IMPORTS).where(i.id.in_(sorted(ids))).values(seal=how))


def _record_forced(conn: Connection, ids: list[int], forced: Forced, now: datetime) -> None:
    detail = f"imports {', '.join(map(str, ids))} sealed though not imported --no-seal: "
    from escalation_flow.adapters.store.records import insert_audit

    values = {"at": now, "actor": forced.by[:64], "action": "seal_forced",
              "detail": detail + forced.reason}  # fmt: skip
    insert_audit(conn, values, now)


def seal_import(
    conn: Connection,
    import_id: int,
    schools: Collection[int],
    now: datetime,
    columns: Mapping[int, Sealed] | None = None,
) -> list[tuple[str, int, int]]:
    """Seal one import just written, for the schools (ids) it wrote marks of, in its
    transaction (``Store.import_marks(seal=True)``), without ``seal_imports``' scan of every
    mark. ``columns``: by school id, the seal's parts computed from the rows the import stored
    while they were in memory (exactly those: the caller knows every row it gave was new);
    other schools' rows are read back."""
    return _seal(conn, {sid: [import_id] for sid in sorted(schools)}, now, columns or {})


def _seal(
    conn: Connection,
    todo: Mapping[int, list[int]],
    now: datetime,
    given: Mapping[int, Sealed] | None = None,
) -> list[tuple[str, int, int]]:
    keys = {v: k for k, v in school_ids(conn).items()}
    s = SEALS.c
    out = []
    for school_id, imports in sorted(todo.items()):
        in_memory = (given or {}).get(school_id) if len(imports) == 1 else None
        rows = mark_rows(conn, school_id, imports) if in_memory is None else {}
        head = conn.execute(
            select(s.seq, s.hash).where(s.school_id == school_id).order_by(s.seq.desc()).limit(1)
        ).first()
        seq, previous = (head.seq, head.hash) if head else (0, GENESIS)
        for import_id in imports:
            seq += 1
            found = in_memory or sealed(columns_of(rows.get(import_id, [])))
            digest, prints = found.digest, found.fingerprints
            school = keys[school_id]
            new = seal_hash(school, seq, import_id, found.rows, digest, prints, now, previous)
            conn.execute(
                insert(SEALS).values(
                    school_id=school_id, seq=seq, import_id=import_id, rows=found.rows,
                    digest=digest, fingerprints=prints, sealed_at=now, prev_hash=previous,
                    hash=new,
                )
            )  # fmt: skip
            previous = new
            out.append((school, import_id, found.rows))
    return out


def mark_rows(
    conn: Connection, school_id: int, imports: Collection[int] | None = None
) -> dict[int, list[MarkRow]]:
    """A school's stored marks (or those of ``imports``), by import."""
    m, p = MARKS.c, PUPILS.c
    query = (
        select(
            m.import_id, p.mis_id, m.date, m.session, m.code, m.recorded_at, m.minutes_late,
            m.imported_at, m.recorded_by,
        )
        .join(PUPILS, p.id == m.pupil_id)
        .where(m.school_id == school_id)
    )  # fmt: skip
    if imports is not None:
        query = query.where(m.import_id.in_(list(imports)))
    out: dict[int, list[MarkRow]] = defaultdict(list)
    for row in conn.execute(query):
        out[row.import_id].append(
            MarkRow(
                pupil=row.mis_id,
                day=row.date,
                session=row.session,
                code=row.code,
                recorded_at=to_micros(row.recorded_at),
                minutes_late=row.minutes_late,
                imported_at=to_micros(row.imported_at),
                recorded_by=row.recorded_by,
            )
        )
    return out


def load_seals(conn: Connection, school_id: int, school: str) -> list[Seal]:
    s = SEALS.c
    rows = conn.execute(select(SEALS).where(s.school_id == school_id).order_by(s.seq))
    return [
        Seal(school, r.seq, r.import_id, r.rows, r.digest, bytes(r.fingerprints), r.sealed_at,
             r.prev_hash, r.hash)
        for r in rows
    ]  # fmt: skip


# -- what ``audit verify`` reads ------------------------------------------------------------------


def case_histories(
    conn: Connection, school_id: int
) -> Iterator[tuple[dict[str, Any], list[HistoryRow]]]:
    """Each case row of a school (by pupil) with its history records."""
    c = CASES.c
    rows = conn.execute(select(CASES).where(c.school_id == school_id).order_by(c.pupil))
    for row in rows.mappings().all():
        yield dict(row), history(conn, row["id"])


def orphan_records(conn: Connection) -> int:
    """History records whose case row is gone."""
    query = select(func.count()).select_from(EVENTS).where(
        EVENTS.c.case_id.not_in(select(CASES.c.id))
    )
    return int(conn.execute(query).scalar() or 0)


# -- what ``audit checkpoint`` reads ---------------------------------------------------------------


def case_heads(conn: Connection) -> list[tuple[int, str, str, int, str]]:
    """Every case row as (id, school key, pupil, history length, head hash), by school, pupil."""
    c, s = CASES.c, SCHOOLS.c
    query = (
        select(c.id, s.key, c.pupil, c.length, c.head_hash)
        .join(SCHOOLS, s.id == c.school_id)
        .order_by(s.key, c.pupil)
    )
    return [(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4])) for r in conn.execute(query)]


def record_hash(conn: Connection, case_id: int, seq: int) -> str | None:
    """The stored hash of one history record; None when there is no such record."""
    e = EVENTS.c
    found = conn.execute(select(e.hash).where(e.case_id == case_id, e.seq == seq)).scalar()
    return None if found is None else str(found)


def mark_counts(conn: Connection) -> dict[int, int]:
    """Stored mark versions per school id."""
    m = MARKS.c
    query = select(m.school_id, func.count()).group_by(m.school_id)
    return {int(sid): int(n) for sid, n in conn.execute(query)}


#: Who approved and sent a letter, and when: (approved_by, approved_at, sent_by, sent_at).
Approval = tuple[str | None, datetime | None, str | None, datetime | None]


def letter_contents(
    conn: Connection,
) -> Iterator[tuple[int, str, str, bytes | None, Approval]]:
    """Every letter's stored content: (id, "school/pupil", HTML, PDF bytes or None when not
    rendered yet, who approved and sent it)."""
    lt, c, s = LETTERS.c, CASES.c, SCHOOLS.c
    query = (
        select(
            lt.id, s.key, c.pupil, lt.html, lt.pdf,
            lt.approved_by, lt.approved_at, lt.sent_by, lt.sent_at,
        )
        .join(CASES, c.id == lt.case_id)
        .join(SCHOOLS, s.id == c.school_id)
        .order_by(lt.id)
    )
    for row in conn.execute(query):
        pdf = None if row.pdf is None else bytes(row.pdf)
        approval = (row.approved_by, row.approved_at, row.sent_by, row.sent_at)
        yield int(row.id), f"{row.key}/{row.pupil}", str(row.html), pdf, approval


Completion = tuple[str, str | None, datetime | None, str | None]


def task_completions(conn: Connection) -> dict[int, tuple[str, Completion]]:
    """Every task's completion by task id: ("school/pupil", (status, completed_by, completed_at,
    outcome))."""
    t, s = TASKS.c, SCHOOLS.c
    query = (
        select(s.key, t.id, t.pupil, t.status, t.completed_by, t.completed_at, t.outcome)
        .join(SCHOOLS, s.id == t.school_id)
        .order_by(t.id)
    )
    return {
        int(r.id): (
            f"{r.key}/{r.pupil}",
            (str(r.status), r.completed_by, r.completed_at, r.outcome),
        )
        for r in conn.execute(query)
    }


def import_counts(conn: Connection) -> dict[int, tuple[int, int]]:
    """Each import of marks: (the rows it recorded as new to the store, the rows stored now
    under its id)."""
    i, m = IMPORTS.c, MARKS.c
    counted = conn.execute(select(m.import_id, func.count()).group_by(m.import_id))
    stored: dict[int, int] = {int(r[0]): int(r[1]) for r in counted}
    query = select(i.id, i.imported).where(i.kind == "marks").order_by(i.id)
    return {int(r[0]): (int(r[1]), stored.get(int(r[0]), 0)) for r in conn.execute(query)}
