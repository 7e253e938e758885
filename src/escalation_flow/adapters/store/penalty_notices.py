"""Reading and writing ``penalty_notices`` (every version of every notice), each row chained.

The rules are the core's (``core.penalty_notices.check_record``); this module only numbers and
stores what the service has checked, in the transaction that read the register it checked
against, so two members of staff recording at once cannot both pass the two-in-three rule:
the register's rows are read under a lock of the school's chain (PostgreSQL) or SQLite's write
lock, and ``(notice, version)`` is unique. Numbers run across the trust's schools, so the next
one is read under a trust-wide lock too (``NUMBERS_LOCK``): two schools' writers, each holding
only its own chain, would otherwise take the same number.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from escalation_flow.adapters.store.models import School, table_of
from escalation_flow.adapters.store.penalty_notice_models import PenaltyNoticeRow
from escalation_flow.adapters.store.records import NewRecord, append
from escalation_flow.core.chain import canonical_json, school_chain, sha256_text
from escalation_flow.core.penalty_notices import (
    Amounts,
    Kind,
    NoticeDraft,
    NoticeVersion,
    Offence,
    Session,
    Status,
)

PENALTY_NOTICE = "penalty_notice"
#: The lock a writer holds while it takes the next notice number (never a chain of records).
NUMBERS_LOCK = "penalty-notice-numbers"
TABLE = table_of(PenaltyNoticeRow)


def read_versions(conn: Connection, school_ids: Iterable[int] | None = None) -> list[NoticeVersion]:
    """Every stored version (of these schools; None: all), in (notice, version) order."""
    query = (
        select(TABLE, School.key.label("school_key"))
        .join(School, School.id == TABLE.c.school_id)
        .order_by(TABLE.c.notice, TABLE.c.version)
    )
    if school_ids is not None:
        query = query.where(TABLE.c.school_id.in_(list(school_ids)))
    return [_version(r) for r in conn.execute(query).mappings()]


def next_notice_number(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(TABLE.c.notice), 0))).scalar_one()) + 1


def insert_version(conn: Connection, v: NoticeVersion, school_id: int, now: dt.datetime) -> None:
    """Write one version and its chained record (``school:<key>``), in ``conn``'s transaction."""
    values = _values(v, school_id)
    conn.execute(TABLE.insert(), [values])
    body = {
        "notice": v.notice,
        "version": v.version,
        "by": v.recorded_by,
        "row": row_digest(values),
    }
    record = NewRecord(
        school_chain(v.draft.school), PENALTY_NOTICE, subject_of(v.notice, v.version), body,
        v.recorded_at,
    )  # fmt: skip
    append(conn, [record], now)


def subject_of(notice: int, version: int) -> str:
    return f"penalty notice {notice}.{version}"


def row_digest(values: dict[str, Any]) -> str:
    """The sha256 of a row's values (its register content; no personal data leaves the row)."""
    plain = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items()}
    plain.pop("school_id", None)
    return sha256_text(canonical_json(plain))


def _values(v: NoticeVersion, school_id: int) -> dict[str, Any]:
    d = v.draft
    sessions = [[s.on.isoformat(), s.half, c] for s, c in zip(d.sessions, v.codes, strict=True)]
    return {
        "notice": v.notice,
        "version": v.version,
        "school_id": school_id,
        "pupil": d.pupil,
        "parent": d.parent,
        "kind": d.kind.value,
        "offence": d.offence.value,
        "sessions": json.dumps(sessions),
        "issued_on": d.issued_on,
        "status": v.status.value,
        "amount_reduced": v.amounts.reduced if v.amounts else None,
        "amount_full": v.amounts.full if v.amounts else None,
        "recorded_by": v.recorded_by,
        "recorded_at": v.recorded_at,
        "note": v.note,
    }


def stored_digests(conn: Connection) -> dict[tuple[int, int], tuple[str, str]]:
    """Each stored row's (school key, digest of its values), by (notice, version)."""
    query = select(TABLE, School.key.label("school_key")).join(
        School, School.id == TABLE.c.school_id
    )
    out: dict[tuple[int, int], tuple[str, str]] = {}
    for r in conn.execute(query).mappings():
        values = {c.name: r[c.name] for c in TABLE.columns if c.name != "id"}
        out[(int(r["notice"]), int(r["version"]))] = (str(r["school_key"]), row_digest(values))
    return out


def _version(r: Any) -> NoticeVersion:
    sessions = json.loads(r["sessions"])
    full = r["amount_full"]
    return NoticeVersion(
        notice=int(r["notice"]),
        version=int(r["version"]),
        draft=NoticeDraft(
            kind=Kind(r["kind"]),
            school=r["school_key"],
            pupil=r["pupil"],
            parent=r["parent"],
            offence=Offence(r["offence"]),
            sessions=tuple(Session(dt.date.fromisoformat(d), h) for d, h, _ in sessions),
            issued_on=r["issued_on"],
        ),
        codes=tuple(c for _, _, c in sessions),
        status=Status(r["status"]),
        amounts=None if full is None else Amounts(r["amount_reduced"], int(full)),
        recorded_by=r["recorded_by"],
        recorded_at=r["recorded_at"],
        note=r["note"],
    )
