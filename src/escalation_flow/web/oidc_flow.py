"""A single sign-on from start to session: ``begin`` sends the browser to the provider, ``finish``
takes it back, checks everything and opens the same session a password login opens.

The callback is protected so that a stolen or replayed redirect leads nowhere:

- **state bound to the browser, single use, short-lived**: ``begin`` keeps the sign-in on the
  server under the state's sha256, with a hash of a random value in this browser's
  ``ef_sso`` cookie; ``finish`` takes it once (a second callback with the same state finds it
  gone), within ``SIGN_IN_MINUTES``, and only from the browser that holds the cookie;
- **nonce** made here, checked in the ID token; **PKCE S256**, the verifier never leaves us;
- the provider's ``iss`` in the redirect, when it sends one (RFC 9207), must be its own.

Every sign-in that reached an account or a sign-in we began, let in or refused, is written to
the staff audit log (``sso_login``, ``sso_refused`` with why); the person refused reads a page
with no token in it. A callback whose state matches no sign-in we began touches no account:
it is a structlog warning, not an audit row (anyone can send one, as often as they like). The
provider's ``error`` goes to the log only when it is one of the OAuth 2.0 / OpenID Connect
error codes, else as ``unrecognised``: the text is the caller's, not the provider's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog

from escalation_flow.errors import SignInError
from escalation_flow.ports import PageStaff
from escalation_flow.web.auth import open_session
from escalation_flow.web.oidc_client import OidcClient
from escalation_flow.web.oidc_config import SignInProvider, sign_in_provider
from escalation_flow.web.oidc_match import Identity, Match, Refusal, choose, identity_of
from escalation_flow.web.security import new_token, token_hash
from escalation_flow.web.webapp import WebApp

SIGN_IN_COOKIE = "ef_sso"
SIGN_IN_MINUTES = 10
CALLBACK_PATH = "/login/sso/callback"

log = structlog.get_logger(__name__)

#: The ``error`` codes an authorisation response may carry: RFC 6749 section 4.1.2.1 and OpenID
#: Connect Core 1.0 section 3.1.2.6. Anything else is logged as ``unrecognised``.
OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)


@dataclass(frozen=True)
class Pending:
    browser_hash: str
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class SignedIn:
    token: str
    seconds: int
    next_path: str


@dataclass(frozen=True)
class Refused:
    """Why not, in the page's words (``reason`` picks them) and the audit log's (``detail``)."""

    reason: str  # "expired", "provider", "token", or a Refusal's name
    status: int
    detail: str


def provider_of(web: WebApp) -> SignInProvider | None:
    return web.cached(("sign-in provider",), lambda: sign_in_provider(web.settings))


def client_of(web: WebApp, provider: SignInProvider) -> OidcClient:
    """One client per provider, so that discovery and the JWKS are fetched once (if the page
    cache ever starts again they are fetched again: harmless)."""
    return web.cached(("oidc client", provider), lambda: OidcClient(provider))


def begin(
    web: WebApp, provider: SignInProvider, redirect_uri: str, next_path: str
) -> tuple[str, str]:
    """(the provider's authorisation URL, the browser's ``ef_sso`` cookie value)."""
    state, nonce, browser = new_token(), new_token(), new_token()
    verifier = new_token() + new_token()  # 86 characters: RFC 7636 asks for 43 to 128
    pending = Pending(token_hash(browser), nonce, verifier, next_path)
    url = client_of(web, provider).authorization_url(redirect_uri, state, nonce, verifier)
    now = web.now()
    web.staff.begin_sign_in(
        token_hash(state), pending, now, now + timedelta(minutes=SIGN_IN_MINUTES)
    )
    return url, browser


def finish(
    web: WebApp,
    provider: SignInProvider,
    params: Mapping[str, str],
    browser: str | None,
    redirect_uri: str,
    address: str,
) -> SignedIn | Refused:
    """The provider's redirect (``params``) checked through to a session, or refused."""
    staff = web.staff
    now = web.now()
    state = params.get("state") or ""
    pending = None
    if state and browser:
        pending = staff.take_sign_in(token_hash(state), token_hash(browser), now)
    if pending is None:
        # touches no account and anyone can send it: the log, not the audit log
        why = "state unknown, used, expired or begun in another browser"
        log.warning("sign_in.sso_unknown_state", ip=address, had_browser_cookie=bool(browser))
        return Refused("expired", 400, why)
    if params.get("iss") not in (None, provider.issuer):
        return record_refusal(
            web, "?", address, Refused("provider", 400, "iss of another provider")
        )
    if "error" in params or not params.get("code"):
        error = provider_error(params.get("error")) if "error" in params else "no code"
        return record_refusal(web, "?", address, Refused("provider", 400, f"provider said {error}"))
    client = client_of(web, provider)
    try:
        id_token = client.exchange(params["code"], redirect_uri, pending.code_verifier)
        claims = client.verify(id_token, pending.nonce, web.now())
    except SignInError as exc:
        # a token that fails a check is ours to refuse (400); a provider that fails is 502
        refused = Refused("token", 400, str(exc))
        if not str(exc).startswith("id token"):
            refused = Refused("provider", 502, str(exc))
        return record_refusal(web, "?", address, refused)
    identity = identity_of(claims, provider)
    linked = staff.by_subject(identity.issuer, identity.subject) if identity.subject else None
    by_email = staff.by_email(identity.email) if identity.email and linked is None else None
    match = _linked(staff, choose(identity, linked, by_email, provider.email_domains), identity)
    account = match.account
    if account is None:
        refusal = match.refusal or Refusal.NO_STAFF_RECORD
        refused = Refused(refusal.name, 403, refusal.value)
        return record_refusal(web, identity.claimed, address, refused)
    token, seconds = open_session(web, account, address)
    detail = "linked at this first sign-in" if match.link else None
    staff.audit(account.username, "sso_login", web.now(), detail=detail, ip=address)
    log.info("sign_in.sso_login", staff=account.username, linked_now=match.link)
    return SignedIn(token, seconds, pending.next_path)


def provider_error(error: str | None) -> str:
    """The provider's ``error`` for the log: a registered code, or ``unrecognised``."""
    return error if error in OAUTH_ERRORS else "unrecognised"


def _linked(staff: PageStaff, match: Match, identity: Identity) -> Match:
    """Link the subject when the match asks; refused if another sign-in linked it first."""
    if match.account is None or not match.link or identity.subject is None:
        return match
    if staff.link_subject(match.account.id, identity.issuer, identity.subject):
        return match
    return Match(None, refusal=Refusal.LINKED_TO_ANOTHER)


def record_refusal(web: WebApp, actor: str, address: str, refused: Refused) -> Refused:
    """Write a refused sign-in to the audit log (and the log); the refusal, for the page."""
    web.staff.audit(actor, "sso_refused", web.now(), detail=refused.detail, ip=address)
    log.info("sign_in.sso_refused", reason=refused.reason, detail=refused.detail)
    return refused
