"""The port letters leave through: a ``LetterSender`` takes one household's copy of an approved
letter (``Outgoing``) and says whether it was accepted (``core.delivery.Result``).

The SMTP adapter (``adapters/smtp_sender.py``) is the first channel. Another (GOV.UK Notify for
a letter by post or an SMS) is another adapter with the same two calls: its ``channel`` names
which outbox rows it takes, and ``session()`` holds whatever it keeps open between messages (an
SMTP connection; an HTTP client). Nothing outside the adapter knows the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from escalation_flow.core.delivery import Next, Result

#: A row read back: attributes named as the ``outbox`` table's columns.
Row = Any


@dataclass(frozen=True)
class Outgoing:
    """One household's copy of one letter, ready to go."""

    #: stable across attempts and restarts: a server or mail client that saw it already can
    #: tell a second delivery (after a crash between acceptance and our record) is the same
    message_id: str
    names: tuple[str, ...]  # the addressees (the household's parents and carers)
    emails: tuple[str, ...]
    postal_address: str
    subject: str
    body: str  # plain text: names the school and the pupil only as the letter does
    pdf: bytes
    filename: str


class SendSession(Protocol):
    def send(self, item: Outgoing) -> Result:
        """Try once. A refusal is a ``Refused`` (never raised); ``SenderUnavailableError`` is
        raised when the channel itself is down (no connection, TLS or login refused)."""
        ...


class LetterSender(Protocol):
    #: the outbox channel it serves ("email")
    @property
    def channel(self) -> str: ...

    def session(self) -> AbstractContextManager[SendSession]:
        """Open the channel (``SenderUnavailableError`` if it cannot be)."""
        ...


class OutboxStore(Protocol):
    """The ``outbox`` table as the use cases need it (``adapters/store/outbox.SqlOutbox``);
    every change is chained on the letter's case in the transaction that makes it."""

    def unqueued_letters(self) -> list[Row]:
        """Approved letters without an outbox row: ``id``, ``approved_by``, ``approved_at``,
        ``school``, ``pupil``."""
        ...

    def enqueue(self, letter_id: int, rows: Sequence[Mapping[str, Any]], now: datetime) -> bool:
        ...

    def cancel_unsendable(self, now: datetime) -> list[int]: ...

    def set_aside(
        self, row: Row, status: str, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...

    def queued_digest(self, row: Row) -> str | None: ...

    def pupil_of(self, letter_id: int) -> tuple[str, str]: ...

    def due_count(self, channel: str, now: datetime, lease: timedelta) -> int: ...

    def claim_next(
        self, channel: str, now: datetime, lease: timedelta, worker: str
    ) -> tuple[Row, bool] | None: ...

    def record_attempt(
        self, row: Row, worker: str, result: Result, after: Next, now: datetime
    ) -> bool: ...

    def release(self, row: Row, worker: str) -> None: ...

    def for_post(self, school: str, start: datetime, end: datetime) -> list[Row]: ...

    def mark_printed(self, rows: Sequence[Row], by: str, now: datetime) -> int: ...

    def rows(
        self, *, status: str | None = None, school: str | None = None, letter: int | None = None
    ) -> list[Row]: ...
