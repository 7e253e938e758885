"""Later records (chain format 2): what happened to what a decision made, chained and hashed.

A letter prepared (the sha256 of its HTML), rendered (of its PDF) and approved (who, when), a
task without a case completed (who, when, outcome, a digest of the note) and every staff
audit-log entry (a digest of the whole row) are appended to a chain (``core.chain.RecordLink``)
in the transaction that writes them: ``case:<school>/<pupil>`` for a case's letters,
``school:<key>`` for a school's tasks without a case and its audit entries, ``trust`` for
entries of no school. ``audit verify`` checks each chain and each row against its records
(``audit/record_check.py``), so an edited letter, completion or audit row is named without a
checkpoint; the checkpoint keeps each chain's length and head.

Bodies hold digests and staff ids, never a pupil's personal data: erasing a letter's text later
(``erase_letter``) leaves every hash as it was.

Concurrency: ``(chain, seq)`` is unique, so two writers appending to one chain cannot both
succeed; the loser's transaction is rolled back whole (``ConflictError``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store import pg_rows
from escalation_flow.adapters.store.models import Base, table_of
from escalation_flow.core.chain import (
    GENESIS,
    RecordLink,
    canonical_json,
    case_chain,
    instant_text,
    school_chain,
    sha256_bytes,
    sha256_text,
)
from escalation_flow.errors import ConflictError

LETTER_PREPARED, LETTER_RENDERED, LETTER_APPROVED, LETTER_ERASED = (
    "letter_prepared",
    "letter_rendered",
    "letter_approved",
    "letter_erased",
)
TASK_COMPLETED, AUDIT_ENTRY = "task_completed", "audit_entry"


class ChainRecordRow(Base):
    __tablename__ = "chain_records"
    __table_args__ = (UniqueConstraint("chain", "seq"), Index(None, "subject"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(
        String(200), comment="case:<school>/<pupil>, school:<key>, trust"
    )
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(60), comment="letter N, task N, audit N")
    body: Mapped[str] = mapped_column(Text, comment="canonical JSON: digests, who and when")
    at: Mapped[dt.datetime]
    recorded_at: Mapped[dt.datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


RECORDS = table_of(ChainRecordRow)


@dataclass(frozen=True)
class NewRecord:
    chain: str
    kind: str
    subject: str
    body: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class StoredRecord:
    """One ``chain_records`` row as read back."""

    chain: str
    seq: int
    kind: str
    subject: str
    body: str
    at: datetime
    recorded_at: datetime
    prev_hash: str
    hash: str

    def link(self) -> RecordLink:
        return RecordLink(
            self.chain, self.seq, self.kind, self.subject, self.body, self.at, self.recorded_at,
            self.prev_hash,
        )  # fmt: skip


def append(conn: Connection, records: Sequence[NewRecord], now: datetime) -> None:
    """Append ``records`` (in order) to their chains, in the connection's transaction."""
    if not records:
        return
    chains = sorted({r.chain for r in records})
    _lock(conn, chains)
    heads = _heads(conn, chains)
    rows = []
    for r in records:
        seq, previous = heads.get(r.chain, (0, GENESIS))
        link = RecordLink(
            r.chain, seq + 1, r.kind, r.subject, canonical_json(dict(r.body)), r.at, now, previous
        )
        digest = link.hash()
        heads[r.chain] = (seq + 1, digest)
        rows.append({**link.__dict__, "hash": digest})
    try:
        if pg_rows.many(conn, rows):
            pg_rows.copy_dicts(conn, RECORDS, rows)
        else:
            conn.execute(insert(RECORDS), rows)
    except IntegrityError as exc:
        raise ConflictError(
            "someone else recorded on the same history at the same time; nothing was written, "
            "try again"
        ) from exc


_LOCK = text(
    "SELECT count(pg_advisory_xact_lock(hashtext(c))) "
    "FROM (SELECT unnest(CAST(:chains AS text[])) AS c ORDER BY 1) AS named"
)


def _lock(conn: Connection, chains: Sequence[str]) -> None:
    """PostgreSQL: hold each chain (in name order) until this transaction ends, so a second
    writer waits and then reads the head the first wrote, rather than both taking the same
    ``seq`` (SQLite's write lock already serialises writers)."""
    if conn.dialect.name != "postgresql":
        return
    try:
        conn.execute(_LOCK, {"chains": list(chains)})
    except OperationalError as exc:  # a deadlock, found and broken by the server
        raise ConflictError(
            "another writer held the same histories; nothing was written, try again"
        ) from exc


#: Held by a writer that reads before it appends (the penalty-notice register checks its rules on
#: the rows it read): the same lock ``append`` takes, taken first.
lock_chains = _lock


def _heads(conn: Connection, chains: Sequence[str]) -> dict[str, tuple[int, str]]:
    r = RECORDS.c
    out: dict[str, tuple[int, str]] = {}
    for start in range(0, len(chains), 500):
        part = chains[start : start + 500]
        last = (
            select(r.chain, func.max(r.seq).label("seq")).where(r.chain.in_(part)).group_by(r.chain)
        ).subquery()
        query = select(r.chain, r.seq, r.hash).join(
            last, (last.c.chain == r.chain) & (last.c.seq == r.seq)
        )
        out |= {row.chain: (int(row.seq), str(row.hash)) for row in conn.execute(query)}
    return out


def all_records(conn: Connection) -> dict[str, list[StoredRecord]]:
    """Every later record, by chain, in ``seq`` order."""
    r = RECORDS.c
    query = select(
        r.chain, r.seq, r.kind, r.subject, r.body, r.at, r.recorded_at, r.prev_hash, r.hash
    ).order_by(r.chain, r.seq)
    out: dict[str, list[StoredRecord]] = {}
    for row in conn.execute(query):
        out.setdefault(row.chain, []).append(StoredRecord(**row._asdict()))
    return out


def chain_heads(conn: Connection) -> dict[str, tuple[int, str]]:
    """Each chain's length and head hash (for the checkpoint)."""
    return {k: (v[-1].seq, v[-1].hash) for k, v in all_records(conn).items()}


def erased_letters(conn: Connection) -> set[int]:
    """The letters whose text was erased (``letter_erased`` records)."""
    r = RECORDS.c
    rows = conn.execute(select(r.body).where(r.kind == LETTER_ERASED))
    return {int(json.loads(body)["letter"]) for (body,) in rows}


def record_hash_at(conn: Connection, chain: str, seq: int) -> str | None:
    r = RECORDS.c
    found = conn.execute(select(r.hash).where(r.chain == chain, r.seq == seq)).scalar()
    return None if found is None else str(found)


# -- the bodies ------------------------------------------------------------------------------------


def letter_prepared(
    chain: str, letter_id: int, task_id: int, template: str, html: str, at: datetime
) -> NewRecord:
    body = {"letter": letter_id, "task": task_id, "template": template,
            "html_sha256": sha256_text(html)}  # fmt: skip
    return NewRecord(chain, LETTER_PREPARED, f"letter {letter_id}", body, at)


def letter_rendered(chain: str, letter_id: int, pdf: bytes, at: datetime) -> NewRecord:
    body = {"letter": letter_id, "pdf_sha256": sha256_bytes(pdf)}
    return NewRecord(chain, LETTER_RENDERED, f"letter {letter_id}", body, at)


def letter_approved(chain: str, letter_id: int, by: str, at: datetime) -> NewRecord:
    body = {"letter": letter_id, "by": by, "at": instant_text(at)}
    return NewRecord(chain, LETTER_APPROVED, f"letter {letter_id}", body, at)


def letter_erased(chain: str, letter_id: int, by: str, why: str, at: datetime) -> NewRecord:
    body = {"letter": letter_id, "by": by, "why_sha256": sha256_text(why)}
    return NewRecord(chain, LETTER_ERASED, f"letter {letter_id}", body, at)


def completion_body(
    task_id: int, status: str, by: str | None, at: datetime | None, outcome: str | None,
    note: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "task": task_id,
        "status": status,
        "by": by,
        "at": None if at is None else instant_text(at),
        "outcome": outcome,
        "note_sha256": None if note is None else sha256_text(note),
    }


def task_completed(
    school: str, task_id: int, by: str, at: datetime, outcome: str, note: str | None
) -> NewRecord:
    body = completion_body(task_id, "done", by, at, outcome, note)
    return NewRecord(school_chain(school), TASK_COMPLETED, f"task {task_id}", body, at)


def audit_digest(values: Mapping[str, Any]) -> str:
    """The sha256 of an audit-log row's content (its id aside)."""
    keys = ("at", "actor", "action", "school", "pupil", "detail", "ip")
    plain = [
        instant_text(values[k]) if isinstance(values.get(k), datetime) else values.get(k)
        for k in keys
    ]
    return sha256_text(canonical_json(plain))


def audit_entry(entry_id: int, values: Mapping[str, Any]) -> NewRecord:
    body = {"audit": entry_id, "sha256": audit_digest(values)}
    chain = school_chain(values.get("school"))
    return NewRecord(chain, AUDIT_ENTRY, f"audit {entry_id}", body, values["at"])


# -- writes that chain themselves ------------------------------------------------------------------


def insert_audit(conn: Connection, values: Mapping[str, Any], now: datetime) -> int:
    """One audit-log row and its record, in the connection's transaction."""
    from escalation_flow.adapters.store.staff_models import AuditEntry

    full = {k: values.get(k) for k in ("at", "actor", "action", "school", "pupil", "detail", "ip")}
    found = conn.execute(
        insert(table_of(AuditEntry)).values(full).returning(table_of(AuditEntry).c.id)
    )
    entry_id = int(found.scalar_one())
    append(conn, [audit_entry(entry_id, full)], now)
    return entry_id


def letter_chains(conn: Connection, case_ids: Iterable[int]) -> dict[int, str]:
    """The chain name of each case (by case id)."""
    from escalation_flow.adapters.store.cases import CASES, SCHOOLS

    c, s = CASES.c, SCHOOLS.c
    wanted = sorted(set(case_ids))
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        query = (
            select(c.id, s.key, c.pupil)
            .join(SCHOOLS, s.id == c.school_id)
            .where(c.id.in_(wanted[start : start + 500]))
        )
        out |= {int(r.id): case_chain(r.key, r.pupil) for r in conn.execute(query)}
    return out


# -- a database written before chain format 2 -------------------------------------------------------


def backfill(conn: Connection, now: datetime) -> int:
    """Chain what a store written before format 2 holds (migration ``0007``): every letter's
    content and approval, every task without a case completed, every audit-log entry, as they
    stand at the upgrade. What was changed before the upgrade cannot be told from this (a
    checkpoint made before it can); from the upgrade on, any change is. How many records."""
    from escalation_flow.adapters.store.cases import LETTERS, SCHOOLS, TASKS
    from escalation_flow.adapters.store.staff_models import AuditEntry

    out: list[NewRecord] = []
    lt = LETTERS.c
    letters = list(conn.execute(select(LETTERS).order_by(lt.id)))
    chains = letter_chains(conn, (int(r.case_id) for r in letters))
    for r in letters:
        chain = chains[int(r.case_id)]
        out.append(letter_prepared(chain, r.id, r.task_id, r.template, r.html, r.prepared_at))
        if r.pdf is not None:
            out.append(letter_rendered(chain, r.id, bytes(r.pdf), now))
        if r.approved_by is not None and r.approved_at is not None:
            out.append(letter_approved(chain, r.id, r.approved_by, r.approved_at))
    t, s = TASKS.c, SCHOOLS.c
    done = conn.execute(
        select(t.id, s.key, t.completed_by, t.completed_at, t.outcome, t.note)
        .join(SCHOOLS, s.id == t.school_id)
        .where(t.case_id.is_(None), t.status == "done")
        .order_by(t.id)
    )
    for d in done:
        out.append(
            task_completed(
                d.key, d.id, d.completed_by or "", d.completed_at or now, d.outcome or "", d.note
            )
        )
    log = table_of(AuditEntry)
    for row in conn.execute(select(log).order_by(log.c.id)).mappings():
        out.append(audit_entry(int(row["id"]), dict(row)))
    append(conn, out, now)
    return len(out)
