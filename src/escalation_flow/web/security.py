"""Sessions, CSRF, the login rate limit and the response headers of the staff pages.

- **Sessions** live in the database (``web_sessions``). The cookie carries a random 256-bit
  token; the table keeps only its sha256, so logging out (or an administrator ending a
  session) takes effect at once. Cookies are ``HttpOnly`` and ``SameSite=Lax``, and ``Secure``
  over https (``cookie_secure``).
- **CSRF.** Every form carries a token: the session's own, compared in constant time. The login
  form, before there is a session, uses a signed double-submit token: a random nonce in a
  cookie and the same nonce signed (itsdangerous, one hour) in the form.
- **Rate limit.** Failed logins are counted per username and per address over a window; past
  either limit the password is not even checked.
- **Headers.** A strict Content-Security-Policy (no script at all, styles from our own file),
  no framing, no MIME sniffing, no referrer sent elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

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
class LoginLimit:
    """Whether failed logins so far pause further tries."""

    failures_for_user: int
    failures_from_address: int
    settings: WebSettings

    @property
    def paused(self) -> bool:
        return (
            self.failures_for_user >= self.settings.login_failures_per_user
            or self.failures_from_address >= self.settings.login_failures_per_address
        )

    def message(self) -> str:
        return (
            "Too many failed attempts. For your security, logging in is paused for "
            f"{self.settings.login_window_minutes} minutes. If you have forgotten your "
            "password, ask your school's attendance lead or the trust's attendance team."
        )


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
