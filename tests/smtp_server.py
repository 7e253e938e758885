"""A real SMTP server for the tests (aiosmtpd, in a thread): STARTTLS with a self-signed
certificate made by ``openssl``, AUTH LOGIN/PLAIN required after TLS, and a handler whose
answer to DATA the test chooses (accept, refuse with a code, or say nothing for a while)."""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "school-mailer", "s3cret-pass"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for ``localhost`` (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Mailbox:
    """What the server took, and how it answers the next DATA commands."""

    received: list[Message] = field(default_factory=list)
    rcpt: list[list[str]] = field(default_factory=list)
    #: answers to give to DATA, first first; when empty, "250 OK"
    answers: list[str] = field(default_factory=list)
    #: seconds to say nothing before refusing DATA (a server that times out; the message is
    #: never taken, so a retry is the only copy)
    stall: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.received]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd calls it by this name)
        if self.stall:
            await asyncio.sleep(self.stall)
            return "451 4.4.2 too slow"
        with self.lock:
            answer = self.answers.pop(0) if self.answers else "250 OK"
            if answer.startswith("250"):
                self.received.append(email.message_from_bytes(envelope.content, policy=policy.default))
                self.rcpt.append(list(envelope.rcpt_tos))
        return answer


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = (
        isinstance(data, LoginPassword)
        and data.login.decode() == USER
        and data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    cert: Path
    mailbox: Mailbox

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts only this server's certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


@contextmanager
def smtp_server(folder: Path) -> Iterator[Server]:
    cert, key = self_signed(folder)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(cert), str(key))
    mailbox = Mailbox()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=free_port(), server_hostname="localhost",
        tls_context=tls, require_starttls=True, auth_required=True, auth_require_tls=True,
        authenticator=_authenticate,
    )  # fmt: skip
    controller.start()
    try:
        yield Server("localhost", controller.port, cert, mailbox)
    finally:
        controller.stop()
