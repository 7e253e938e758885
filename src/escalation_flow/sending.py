"""The port letters leave through: a ``LetterSender`` takes one household's copy of an approved
letter (``Outgoing``) and says whether it was accepted (``core.delivery.Result``).

The SMTP adapter (``adapters/smtp_sender.py``) is the first channel. Another (GOV.UK Notify for
a letter by post or an SMS) is another adapter with the same two calls: its ``channel`` names
which outbox rows it takes, and ``session()`` holds whatever it keeps open between messages (an
SMTP connection; an HTTP client). Nothing outside the adapter knows the wire.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from escalation_flow.core.delivery import Result


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
