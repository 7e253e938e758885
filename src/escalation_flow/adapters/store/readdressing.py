"""Preparing a held letter again (``letters readdress``): the letter's new text and copies, and
its outbox rows, written in one transaction and chained on the case like every letter change.

The letter keeps its id (a letter is one per task: ``letters.task_id`` is unique) and its
approval: what it says is what was approved; only who its held copies go to changes. The
records make the change visible and checkable: a new ``letter_prepared`` (the new HTML's
digest) and ``letter_rendered`` (the new PDF's), which ``audit verify`` reads as the latest of
their kind; a ``letter_readdressed`` (who, and which outbox rows); a new ``letter_queued`` for
each held row given its household as known now (its new recipients' digest, the outbox check's
latest), for each new household's row, and a ``letter_cancelled`` for each held copy no
household holds now. Nothing is sent here: the outbox sends what is queued on its next round.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from escalation_flow.adapters.store import records
from escalation_flow.adapters.store.cases import LETTERS
from escalation_flow.adapters.store.outbox import (
    LETTER_CANCELLED,
    LETTER_QUEUED,
    OUTBOX,
    _chain_of_letter,
    _record,
    row_digest,
)
from escalation_flow.core.delivery import CANCELLED, NEEDS_READDRESSING
from escalation_flow.errors import ConflictError
from escalation_flow.letters.readdressing import Readdressed
from escalation_flow.stored import LETTER_APPROVED

LETTER_READDRESSED = "letter_readdressed"


class SqlReaddress:
    """The store's side of ``service.letter_readdress``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, r: Readdressed, by: str, now: datetime) -> None:
        """All of it, or nothing (``ConflictError``: the letter or a held row moved on)."""
        l, o = LETTERS.c, OUTBOX.c  # noqa: E741
        with self.engine.begin() as conn:
            letter = conn.execute(select(LETTERS).where(l.id == r.letter_id)).one()
            values: dict[str, Any] = {"html": r.html, "figures": r.figures, "pdf": r.pdf}
            changed = conn.execute(
                update(LETTERS)
                .where(l.id == r.letter_id, l.status == LETTER_APPROVED, l.figures == letter.figures)
                .values(values)
            ).rowcount  # fmt: skip
            if changed != 1:
                raise ConflictError(f"letter {r.letter_id} changed meanwhile; nothing was changed")
            chain = _chain_of_letter(conn, r.letter_id)
            out = [
                records.letter_prepared(
                    chain, r.letter_id, int(letter.task_id), str(letter.template), r.html, now
                )
            ]
            if r.pdf is not None:
                out.append(records.letter_rendered(chain, r.letter_id, r.pdf, now))
            for row_id, new in r.updated.items():
                _held(conn, row_id, {**new, "last_code": None, "done_at": None,
                                     "next_attempt_at": None, "attempts": 0}, r.letter_id)  # fmt: skip
                out.append(_queued(chain, r.letter_id, row_id, new, now))
            for new in r.added:
                row_id = conn.execute(
                    insert(OUTBOX).returning(o.id),
                    [{**new, "letter_id": r.letter_id, "queued_at": now, "attempts": 0}],
                ).scalar_one()
                out.append(_queued(chain, r.letter_id, int(row_id), new, now))
            for row_id in r.cancelled:
                _held(conn, row_id, {"status": CANCELLED, "last_reply": r.reason, "done_at": now},
                      r.letter_id)  # fmt: skip
                out.append(_record(chain, r.letter_id, LETTER_CANCELLED, now, outbox=row_id,
                                   status=CANCELLED, reason=r.reason))  # fmt: skip
            out.append(
                _record(chain, r.letter_id, LETTER_READDRESSED, now, by=by,
                        readdressed=sorted(r.updated), added=len(r.added),
                        cancelled=sorted(r.cancelled))
            )  # fmt: skip
            records.append(conn, out, now)


def _held(conn: Any, row_id: int, values: Mapping[str, Any], letter_id: int) -> None:
    o = OUTBOX.c
    changed = conn.execute(
        update(OUTBOX).where(o.id == row_id, o.status == NEEDS_READDRESSING).values(dict(values))
    ).rowcount
    if changed != 1:
        raise ConflictError(
            f"a copy of letter {letter_id} is no longer held (outbox row {row_id}); nothing was "
            "changed"
        )


def _queued(
    chain: str, letter_id: int, row_id: int, r: Mapping[str, Any], now: datetime
) -> records.NewRecord:
    """Chained as ``enqueue`` chains a row: the outbox check and the sender read the latest."""
    household = str(r["household"])
    reason = {"reason": r["last_reply"]} if r.get("last_reply") else {}
    return _record(chain, letter_id, LETTER_QUEUED, now, outbox=row_id, channel=r["channel"],
                   status=r["status"], contacts=household.split(",") if household else [],
                   message_id=r["message_id"], recipients=row_digest(r), **reason)  # fmt: skip
