"""Legal holds: a pupil's records kept past their term while a hold stands, each hold and its
release a row (with the reason's text) and a record on the ``retention`` chain (with a digest
of it). A penalty notice still issued, unpaid or in prosecution holds its pupil too.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from sqlalchemy import Connection, ForeignKey, Index, Integer, String, Text, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store import records
from escalation_flow.adapters.store.cases import SCHOOLS
from escalation_flow.adapters.store.erasure import (
    RETENTION_CHAIN,
    RETENTION_HOLD,
    RETENTION_RELEASE,
)
from escalation_flow.adapters.store.models import Base, table_of
from escalation_flow.adapters.store.penalty_notices import TABLE as NOTICES
from escalation_flow.core.chain import sha256_text
from escalation_flow.core.retention import Hold
from escalation_flow.errors import InputError, NotFoundError

#: A notice in one of these states may still come to court: its pupil's records are evidence.
OUTSTANDING = ("issued", "unpaid", "prosecution")


class RetentionHoldRow(Base):
    __tablename__ = "retention_holds"
    __table_args__ = (Index(None, "school_id", "pupil"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    pupil: Mapped[str] = mapped_column(String(64), comment="the pupil's MIS id")
    reason: Mapped[str] = mapped_column(Text)
    held_by: Mapped[str] = mapped_column(String(100))
    held_at: Mapped[dt.datetime]
    released_by: Mapped[str | None] = mapped_column(String(100))
    released_at: Mapped[dt.datetime | None] = mapped_column(comment="NULL: the hold stands")
    release_reason: Mapped[str | None] = mapped_column(Text)


HOLDS = table_of(RetentionHoldRow)


def place(conn: Connection, school: str, pupil: str, reason: str, by: str, now: datetime) -> int:
    """A hold on ``pupil`` at ``school``, chained; its id."""
    if not reason.strip():
        raise InputError("a hold needs a reason (--reason): it is what the hold is for")
    school_id = conn.execute(select(SCHOOLS.c.id).where(SCHOOLS.c.key == school)).scalar()
    if school_id is None:
        raise NotFoundError(f"school {school!r} is not in the store")
    values = {"school_id": school_id, "pupil": pupil, "reason": reason.strip(), "held_by": by,
              "held_at": now}  # fmt: skip
    hold_id = int(conn.execute(insert(HOLDS).values(values).returning(HOLDS.c.id)).scalar_one())
    body = {
        "hold": hold_id,
        "school": school,
        "by": by,
        "reason_sha256": sha256_text(reason.strip()),
    }
    records.append(
        conn,
        [records.NewRecord(RETENTION_CHAIN, RETENTION_HOLD, f"hold {hold_id}", body, now)],
        now,
    )
    return hold_id


def release(conn: Connection, hold_id: int, reason: str, by: str, now: datetime) -> Hold:
    """Lift hold ``hold_id``, chained; refused when there is no such hold standing."""
    if not reason.strip():
        raise InputError("a release needs a reason (--reason)")
    h = HOLDS.c
    changed = conn.execute(
        update(HOLDS).where(h.id == hold_id, h.released_at.is_(None))
        .values(released_by=by, released_at=now, release_reason=reason.strip())
    ).rowcount  # fmt: skip
    if changed != 1:
        raise NotFoundError(f"no hold {hold_id} stands (`retention holds` lists them)")
    body = {"hold": hold_id, "by": by, "reason_sha256": sha256_text(reason.strip())}
    records.append(
        conn,
        [records.NewRecord(RETENTION_CHAIN, RETENTION_RELEASE, f"hold {hold_id}", body, now)],
        now,
    )
    return next(x for x in holds(conn, standing=False) if x.id == hold_id)


def holds(conn: Connection, *, standing: bool = True) -> list[Hold]:
    h, s = HOLDS.c, SCHOOLS.c
    query = select(HOLDS, s.key).join(SCHOOLS, s.id == h.school_id).order_by(h.id)
    if standing:
        query = query.where(h.released_at.is_(None))
    return [
        Hold(int(r.id), str(r.key), str(r.pupil), str(r.reason), str(r.held_by), r.held_at,
             r.released_by, r.released_at)
        for r in conn.execute(query)
    ]  # fmt: skip


def held_pupils(conn: Connection) -> dict[tuple[str, str], str]:
    """Every pupil whose records must be kept now, with why: a standing hold, or a penalty
    notice whose latest version is still outstanding."""
    out = {(x.school, x.pupil): f"legal hold {x.id} (by {x.held_by})" for x in holds(conn)}
    n, s = NOTICES.c, SCHOOLS.c
    query = (
        select(n.notice, n.version, n.status, n.pupil, s.key)
        .join(SCHOOLS, s.id == n.school_id)
        .order_by(n.notice, n.version)
    )
    latest = {int(r.notice): r for r in conn.execute(query)}
    for notice, r in sorted(latest.items()):
        if r.status in OUTSTANDING:
            out.setdefault((str(r.key), str(r.pupil)), f"penalty notice {notice} is {r.status}")
    return out
