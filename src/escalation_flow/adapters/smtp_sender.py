"""The SMTP channel of the letter sender port (``sending.LetterSender``), on the standard
library's ``smtplib``: STARTTLS (certificate checked) then AUTH when a username is set, one
connection for a round of the outbox, the letter's PDF attached to a plain-text message.

What the server says decides what happens (``core.delivery``): a reply code of 5xx to MAIL,
RCPT or DATA is a refusal for good; 4xx, a timeout or a dropped connection is for now. A
connection, STARTTLS or login that fails is ``SenderUnavailableError``: the round stops and no
letter is charged an attempt for it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr

from escalation_flow.core.delivery import EMAIL, Accepted, Refused, Result, refused
from escalation_flow.errors import SenderUnavailableError
from escalation_flow.sending import Outgoing


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str  # the From address
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout: float = 30.0
    #: the TLS context STARTTLS checks the server with (None: the system's trust store)
    tls: ssl.SSLContext | None = None


def message_of(item: Outgoing, sender: str) -> EmailMessage:
    """The email of one household's copy: plain text, the PDF attached, a stable Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(formataddr(("", e)) for e in item.emails)
    msg["Subject"] = item.subject
    msg["Message-ID"] = item.message_id
    msg.set_content(item.body)
    msg.add_attachment(item.pdf, maintype="application", subtype="pdf", filename=item.filename)
    return msg


class SmtpSender:
    """``LetterSender`` over SMTP."""

    channel = EMAIL

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        session = SmtpSession(self.config)
        session.connect()
        try:
            yield session
        finally:
            session.close()


class SmtpSession:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def connect(self) -> None:
        c = self.config
        where = f"{c.host}:{c.port}"
        try:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise SenderUnavailableError(f"cannot reach the SMTP server {where}: {_said(exc)}") from exc
        try:
            smtp.ehlo()
            if c.starttls:
                smtp.starttls(context=c.tls or ssl.create_default_context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            _quit(smtp)
            step = "login" if isinstance(exc, smtplib.SMTPAuthenticationError) else "STARTTLS"
            raise SenderUnavailableError(
                f"the SMTP server {where} refused the {step}: {_said(exc)}"
            ) from exc
        self._smtp = smtp

    def send(self, item: Outgoing) -> Result:
        if self._smtp is None:  # the connection dropped on the last message: a new one
            self.connect()
        assert self._smtp is not None
        msg = message_of(item, self.config.sender)
        try:
            rejected = self._smtp.send_message(msg, self.config.sender, list(item.emails))
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return refused(code, _text(text))
        except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused
            return refused(exc.smtp_code, _text(exc.smtp_error))
        except (OSError, smtplib.SMTPServerDisconnected) as exc:  # timed out, cut off
            self.close()
            return Refused(None, f"no reply from the server: {_said(exc)}", permanent=False)
        if rejected:  # some addresses of the household refused, the others took it
            left = "; ".join(f"{a}: {c} {_text(t)}" for a, (c, t) in rejected.items())
            return Accepted(250, f"accepted, but refused for {left}")
        return Accepted(250, "accepted")

    def close(self) -> None:
        if self._smtp is not None:
            _quit(self._smtp)
            self._smtp = None


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _said(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
