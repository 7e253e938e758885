"""Sessions, CSRF, the login rate limit and the response headers of the staff pages.

- **Sessions** live in the database (``web_sessions``). The cookie carries a random 256-bit
  token; the table keeps only its sha256, so logging out (or an administrator ending a
  session) takes effect at once. Cookies are ``HttpOnly`` and ``SameSite=Lax``, and ``Secure``
  over https (``cookie_secure``).
- **CSRF.** Every form carries a token: the session's own, compared in constant time. The login
  form, before there is a session, uses a signed double-submit token: a random nonce in a
  cookie and the same nonce signed (itsdangerous, one hour) in the form.
- **Slowing guesses** (``LoginPolicy``): per account and address an exponential back-off with a
  cap, per address a generous ceiling, never a lock; ``users unlock`` starts an account afresh.
- **Headers.** A strict Content-Security-Policy (no script at all, styles from our own file),
  no framing, no MIME sniffing, no referrer sent elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from escalation_flow.ports import FailedLogins
from escalation_flow.web.settings import WebSettings

SESSION_COOKIE = "ef_session"
LOGIN_COOKIE = "ef_login"
LOGIN_FORM_MAX_AGE = 3600

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: Letters are whole documents with their own print styles.
LETTER_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class LoginForms:
    """Signed double-submit tokens for the login form."""

    def __init__(self, secret: str) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="escalation-flow login form")

    def issue(self, nonce: str) -> str:
        return self._signer.dumps(nonce)

    def check(self, token: str | None, nonce: str | None) -> bool:
        if not token or not nonce:
            return False
        try:
            signed = self._signer.loads(token, max_age=LOGIN_FORM_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(signed, str) and same_token(signed, nonce)


def cookie_secure(settings: WebSettings, request: Request) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, settings: WebSettings, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(settings, request),
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class LoginPolicy:
    """Slows guessing without locking anyone out.

    - **Per account and address, an exponential back-off with a cap.** After
      ``login_free_failures`` wrong passwords for one account from one address, each further
      try waits ``login_backoff_seconds``, doubling with each wrong password, at most
      ``login_backoff_cap_minutes``. A good login from that address, an administrator's
      ``users unlock``, or ``login_forget_hours`` without a wrong password start it afresh. A
      stranger guessing at an account from elsewhere does not slow its owner down; the owner
      behind the same proxy waits at most the cap.
    - **Per address, a generous ceiling.** ``login_failures_per_address`` wrong passwords from
      one address (any accounts) within ``login_address_window_minutes``: that address waits
      until the oldest of them leaves the window. Generous, since a school's staff may all
      come through one proxy.
    - **Never a lock.** Every wait ends by itself. While one lasts the password is not checked
      and the try is not counted, so hammering does not lengthen it.
    """

    settings: WebSettings

    def pair_since(self, now: datetime) -> datetime:
        return now - timedelta(hours=self.settings.login_forget_hours)

    def address_since(self, now: datetime) -> datetime:
        return now - timedelta(minutes=self.settings.login_address_window_minutes)

    def backoff(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` wrong passwords the next try must wait."""
        over = failures - self.settings.login_free_failures
        if over < 0:
            return timedelta(0)
        cap = self.settings.login_backoff_cap_minutes * 60
        # 2**over overflows a float long before it matters: the cap is reached by then
        seconds = cap if over > 60 else min(self.settings.login_backoff_seconds * 2**over, cap)
        return timedelta(seconds=seconds)

    def wait(self, history: FailedLogins, now: datetime) -> timedelta:
        """How long this try must wait (zero: the password is checked now)."""
        waits = [timedelta(0)]
        if history.last_pair_failure is not None:
            waits.append(history.last_pair_failure + self.backoff(history.pair_failures) - now)
        ceiling = self.settings.login_failures_per_address
        if history.address_failures >= ceiling and history.oldest_address_failure is not None:
            window = timedelta(minutes=self.settings.login_address_window_minutes)
            waits.append(history.oldest_address_failure + window - now)
        return max(waits)


def wait_message(wait: timedelta) -> str:
    """What the person at the login form reads while a wait lasts."""
    return (
        "Too many wrong passwords. For your security, please wait "
        f"{_duration(wait)} before trying again (nothing is locked; the wait ends by itself). "
        "If you have forgotten your password, ask your school's attendance lead or the trust's "
        "attendance team to set a new one."
    )


def _duration(wait: timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class SecurityHeaders:
    """Adds the security headers to every response that does not set its own policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in (
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ):
                    if name not in names:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
