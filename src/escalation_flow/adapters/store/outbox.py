"""The outbox (``outbox`` table): one row per household per approved letter, and what became
of it, each step chained on the case's later records (``records.py``) in the transaction that
makes it, so the case's history says when a letter was queued, emailed, refused (with the
server's reply), printed or cancelled.

A row is sent by claiming it first: a conditional update from ``queued`` (due) to ``sending``,
naming the worker, counting the attempt. Only the claimer sends it, and its result is written
only while the claim still stands. A ``sending`` row whose claim is older than
``core.delivery.SENDING_LEASE`` was left by a sender that died between the claim and its record:
it is claimed again (see ``docs/sending.md`` for the window this leaves).

Chained bodies hold ids, codes and digests, never an address: a server's reply is kept in the row
and, with any email address in it masked, in the record.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    ForeignKey,
    Integer,
    Row,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from escalation_flow.adapters.store import records
from escalation_flow.adapters.store.cases import CASES, LETTERS, SCHOOLS
from escalation_flow.adapters.store.models import Base, table_of
from escalation_flow.core.chain import instant_text
from escalation_flow.core.delivery import (
    BEFORE_OUTBOX,
    CANCELLED,
    FOR_POST,
    PRINTED,
    QUEUED,
    SENDING,
    Next,
    Result,
    recipients_digest,
)
from escalation_flow.stored import LETTER_APPROVED, LETTER_SENT

LETTER_QUEUED, LETTER_DELIVERY, LETTER_PRINTED, LETTER_CANCELLED = (
    "letter_queued",
    "letter_delivery",
    "letter_printed",
    "letter_cancelled",
)
#: a copy set aside before it went (``needs_readdressing``, or ``failed``: its row was changed
#: outside the service), with the reason
LETTER_HELD = "letter_held"


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("letter_id", "household"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    household: Mapped[str] = mapped_column(String(400), comment="its contact ids, comma-separated")
    channel: Mapped[str] = mapped_column(String(12), comment="email, post or none")
    status: Mapped[str] = mapped_column(String(24), index=True)
    names: Mapped[str] = mapped_column(Text, comment="JSON list: the addressees")
    emails: Mapped[str] = mapped_column(Text, comment="JSON list")
    postal_address: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), comment="stable across attempts")
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime | None]
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_reply: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None] = mapped_column(comment="sent, failed or printed at")


OUTBOX = table_of(OutboxRow)

_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")


def masked(reply: str) -> str:
    """A server's reply with any email address in it masked (for the chained record)."""
    return _ADDRESS.sub("<address>", reply)


class SqlOutbox:
    """The outbox over the SQL store's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- queueing ------------------------------------------------------------------------------

    def unqueued_letters(self) -> list[Row[Any]]:
        """Approved letters with no outbox row yet: ``id``, ``case_id``, ``approved_by``,
        ``approved_at``, ``figures``, ``school``, ``pupil``. A letter staff already recorded as
        sent (posted or handed over by hand) is not queued: the family has it."""
        l, c, s, o = LETTERS.c, CASES.c, SCHOOLS.c, OUTBOX.c  # noqa: E741
        query = (
            select(l.id, l.case_id, l.approved_by, l.approved_at, l.figures, s.key.label("school"),
                   c.pupil)
            .join(CASES, c.id == l.case_id)
            .join(SCHOOLS, s.id == c.school_id)
            .where(l.approved_by.is_not(None), l.status == LETTER_APPROVED)
            .where(~select(o.id).where(o.letter_id == l.id).exists())
            .order_by(l.id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def enqueue(self, letter_id: int, rows: Sequence[Mapping[str, Any]], now: datetime) -> bool:
        """A letter's rows (one a household), each chained as queued; False when another
        process queued the letter first (nothing written)."""
        try:
            with self.engine.begin() as conn:
                ids = [
                    int(r.id)
                    for r in conn.execute(
                        insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True),
                        [{**r, "letter_id": letter_id, "queued_at": now, "attempts": 0}
                         for r in rows],
                    )
                ]  # fmt: skip
                chain = _chain_of_letter(conn, letter_id)
                queued = [
                    _record(chain, letter_id, LETTER_QUEUED, now, outbox=i, channel=r["channel"],
                            status=r["status"], contacts=r["household"].split(",") if r["household"] else [],
                            message_id=r["message_id"], recipients=row_digest(r),
                            **({"reason": r["last_reply"]} if r.get("last_reply") else {}))
                    for i, r in zip(ids, rows, strict=True)
                ]  # fmt: skip
                records.append(conn, queued, now)
        except IntegrityError:
            return False
        return True

    def cancel_unsendable(self, now: datetime) -> list[int]:
        """Rows not yet sent whose letter was superseded or erased since: cancelled (chained);
        their ids."""
        o, l = OUTBOX.c, LETTERS.c  # noqa: E741
        with self.engine.begin() as conn:
            found = conn.execute(
                select(o.id, o.letter_id)
                .join(LETTERS, l.id == o.letter_id)
                .where(o.status.in_((QUEUED, FOR_POST)))
                .where(l.status.not_in((LETTER_APPROVED, LETTER_SENT)))
            ).all()
            for row in found:
                conn.execute(
                    update(OUTBOX).where(o.id == row.id).values(status=CANCELLED, done_at=now)
                )
                chain = _chain_of_letter(conn, row.letter_id)
                records.append(
                    conn, [_record(chain, row.letter_id, LETTER_CANCELLED, now, outbox=row.id)], now
                )
        return [int(r.id) for r in found]

    def set_aside(
        self, row: Row[Any], status: str, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool:
        """A copy that must not go (``status``: cancelled, needs_readdressing or failed), with
        the reason, chained; from ``sending`` while ``worker``'s claim stands, else from
        ``for_post``. False: the row had moved on (nothing written)."""
        o = OUTBOX.c
        held = (o.status == SENDING, o.claimed_by == worker) if worker else (o.status == FOR_POST,)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(OUTBOX).where(o.id == row.id, *held)
                .values(status=status, last_code=None, last_reply=reason, done_at=now)
            ).rowcount  # fmt: skip
            if changed != 1:
                return False
            chain = _chain_of_letter(conn, row.letter_id)
            kind = LETTER_CANCELLED if status == CANCELLED else LETTER_HELD
            record = _record(chain, row.letter_id, kind, now, outbox=row.id, status=status,
                             reason=reason)  # fmt: skip
            records.append(conn, [record], now)
        return True

    def queued_digest(self, row: Row[Any]) -> str | None:
        """The recipients' digest chained when ``row`` was last queued (None: no record queued
        it); a held copy readdressed is queued again (``adapters.store.readdressing``)."""
        r = records.RECORDS.c
        query = (
            select(r.body)
            .where(r.subject == f"letter {int(row.letter_id)}", r.kind == LETTER_QUEUED)
            .order_by(r.seq)
        )
        digest = None
        with self.engine.connect() as conn:
            for (body,) in conn.execute(query):
                found = json.loads(body)
                if found.get("outbox") == int(row.id):
                    digest = str(found.get("recipients") or "")
        return digest

    def pupil_of(self, letter_id: int) -> tuple[str, str]:
        """The (school key, pupil id) a letter is about."""
        l, c, s = LETTERS.c, CASES.c, SCHOOLS.c  # noqa: E741
        query = (
            select(s.key, c.pupil).select_from(LETTERS)
            .join(CASES, c.id == l.case_id).join(SCHOOLS, s.id == c.school_id)
            .where(l.id == letter_id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            school, pupil = conn.execute(query).one()
        return str(school), str(pupil)

    # -- sending -------------------------------------------------------------------------------

    def due_count(self, channel: str, now: datetime, lease: dt.timedelta) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(OUTBOX).where(_due(channel, now, lease))
            return int(conn.execute(query).scalar_one())

    def claim_next(
        self, channel: str, now: datetime, lease: dt.timedelta, worker: str
    ) -> tuple[Row[Any], bool] | None:
        """The oldest row due (or left ``sending`` past its lease), claimed for ``worker``
        (``attempts`` counted), and whether it was left ``sending`` (its sender died); None
        when none is left. A row another worker claims first is passed over."""
        o = OUTBOX.c
        while True:
            with self.engine.begin() as conn:
                seen = conn.execute(
                    select(OUTBOX).where(_due(channel, now, lease)).order_by(o.id).limit(1)
                ).first()
                if seen is None:
                    return None
                claimed = conn.execute(
                    update(OUTBOX)
                    .where(o.id == seen.id, o.status == seen.status, o.attempts == seen.attempts)
                    .values(status=SENDING, claimed_by=worker, claimed_at=now,
                            attempts=seen.attempts + 1)
                ).rowcount  # fmt: skip
                if claimed == 1:
                    row = conn.execute(select(OUTBOX).where(o.id == seen.id)).one()
                    return row, seen.status == SENDING

    def record_attempt(
        self, row: Row[Any], worker: str, result: Result, after: Next, now: datetime
    ) -> bool:
        """The result of the claimed ``row``'s attempt, with its record, while the claim still
        stands (False: the lease ran out and another worker took the row)."""
        o = OUTBOX.c
        done = after.status != QUEUED
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(OUTBOX)
                .where(o.id == row.id, o.status == SENDING, o.claimed_by == worker,
                       o.attempts == row.attempts)
                .values(status=after.status, next_attempt_at=after.next_attempt_at,
                        last_code=result.code, last_reply=result.reply,
                        done_at=now if done else None)
            ).rowcount  # fmt: skip
            if changed != 1:
                return False
            chain = _chain_of_letter(conn, row.letter_id)
            record = _record(
                chain, row.letter_id, LETTER_DELIVERY, now, outbox=row.id, channel=row.channel,
                attempt=row.attempts, status=after.status, code=result.code,
                reply=masked(result.reply), message_id=row.message_id,
                retry_at=None if after.next_attempt_at is None
                else instant_text(after.next_attempt_at),
            )  # fmt: skip
            records.append(conn, [record], now)
        return True

    def release(self, row: Row[Any], worker: str) -> None:
        """A claimed row given back untried (the channel was down): its attempt not counted."""
        o = OUTBOX.c
        with self.engine.begin() as conn:
            conn.execute(
                update(OUTBOX)
                .where(o.id == row.id, o.status == SENDING, o.claimed_by == worker)
                .values(status=QUEUED, attempts=row.attempts - 1, claimed_by=None,
                        claimed_at=None)
            )  # fmt: skip

    # -- post ----------------------------------------------------------------------------------

    def for_post(self, school: str, start: datetime, end: datetime) -> list[Row[Any]]:
        """A school's rows for the post queued in [start, end), printed or not, in letter
        order, with the letter's ``figures``."""
        o, l, c, s = OUTBOX.c, LETTERS.c, CASES.c, SCHOOLS.c  # noqa: E741
        query = (
            select(OUTBOX, l.figures, c.pupil)
            .join(LETTERS, l.id == o.letter_id)
            .join(CASES, c.id == l.case_id)
            .join(SCHOOLS, s.id == c.school_id)
            .where(s.key == school, o.status.in_((FOR_POST, PRINTED)))
            .where(o.queued_at >= start, o.queued_at < end)
            .order_by(o.letter_id, o.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def mark_printed(self, rows: Sequence[Row[Any]], by: str, now: datetime) -> int:
        """Rows for the post now printed (chained, with who printed them); how many were not
        printed before."""
        o = OUTBOX.c
        count = 0
        with self.engine.begin() as conn:
            for row in rows:
                changed = conn.execute(
                    update(OUTBOX).where(o.id == row.id, o.status == FOR_POST)
                    .values(status=PRINTED, done_at=now)
                ).rowcount  # fmt: skip
                if changed == 1:
                    count += 1
                    chain = _chain_of_letter(conn, row.letter_id)
                    rec = _record(chain, row.letter_id, LETTER_PRINTED, now, outbox=row.id, by=by)
                    records.append(conn, [rec], now)
        return count

    # -- reading -------------------------------------------------------------------------------

    def rows(
        self, *, status: str | None = None, school: str | None = None, letter: int | None = None
    ) -> list[Row[Any]]:
        """Outbox rows (with ``school`` and ``pupil``), newest letter first; ``before_outbox``
        markers left out."""
        o, l, c, s = OUTBOX.c, LETTERS.c, CASES.c, SCHOOLS.c  # noqa: E741
        query = (
            select(OUTBOX, s.key.label("school"), c.pupil)
            .join(LETTERS, l.id == o.letter_id)
            .join(CASES, c.id == l.case_id)
            .join(SCHOOLS, s.id == c.school_id)
            .where(o.status != BEFORE_OUTBOX)
            .order_by(o.letter_id.desc(), o.id)
        )
        if status is not None:
            query = query.where(o.status == status)
        if school is not None:
            query = query.where(s.key == school)
        if letter is not None:
            query = query.where(o.letter_id == letter)
        with self.engine.connect() as conn:
            return list(conn.execute(query))


def row_digest(row: Any) -> str:
    """``core.delivery.recipients_digest`` of an outbox row (a mapping or a row read back)."""
    def get(key: str) -> str:
        return str(row[key] if isinstance(row, Mapping) else getattr(row, key))

    return recipients_digest(
        get("names"), get("emails"), get("postal_address"), get("channel"), get("household"),
        get("message_id"),
    )  # fmt: skip


@dataclass(frozen=True)
class StoredCopy:
    """An outbox row as ``audit verify`` reads it."""

    id: int
    letter_id: int
    household: str
    school: str
    pupil: str
    status: str
    digest: str


def stored_copies(conn: Connection) -> list[StoredCopy]:
    """Every outbox row, with the school and pupil of its letter and its recipients' digest."""
    o, l, c, s = OUTBOX.c, LETTERS.c, CASES.c, SCHOOLS.c  # noqa: E741
    query = (
        select(OUTBOX, s.key.label("school"), c.pupil)
        .join(LETTERS, l.id == o.letter_id, isouter=True)
        .join(CASES, c.id == l.case_id, isouter=True)
        .join(SCHOOLS, s.id == c.school_id, isouter=True)
        .order_by(o.id)
    )
    return [
        StoredCopy(int(r.id), int(r.letter_id), str(r.household), str(r.school), str(r.pupil),
                   str(r.status), row_digest(r))
        for r in conn.execute(query)
    ]  # fmt: skip


def _due(channel: str, now: datetime, lease: dt.timedelta) -> Any:
    o = OUTBOX.c
    return and_(
        o.channel == channel,
        or_(
            and_(o.status == QUEUED, or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now)),
            and_(o.status == SENDING, o.claimed_at <= now - lease),
        ),
    )


def _chain_of_letter(conn: Connection, letter_id: int) -> str:
    case_id = conn.execute(select(LETTERS.c.case_id).where(LETTERS.c.id == letter_id)).scalar_one()
    return records.letter_chains(conn, [int(case_id)])[int(case_id)]


def _record(chain: str, letter_id: int, kind: str, at: datetime, **body: Any) -> records.NewRecord:
    return records.NewRecord(chain, kind, f"letter {letter_id}", {"letter": letter_id, **body}, at)
