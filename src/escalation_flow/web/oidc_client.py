"""The OpenID Connect relying party: discovery, the authorisation URL, the code exchange and the
ID token's checks.

- **Discovery** (``/.well-known/openid-configuration``) is read once; its ``issuer`` must be
  the configured one exactly (OpenID Connect Discovery 1.0, section 4.3). A failed read is
  kept for ``DISCOVERY_RETRY_SECONDS`` and raised again without calling out: anyone can load
  ``/login/sso``, and each load must not become a request to a provider that is down.
- **Authorisation code flow with PKCE S256**, ``state`` and ``nonce``: the caller makes them
  (``web/oidc_flow.py``) and keeps them on the server.
- **The ID token** is verified by joserfc (signature, with a key from the provider's JWKS
  chosen by ``kid``; asymmetric algorithms only, never ``none`` or a shared secret), then its
  claims here against our clock: ``iss`` exactly, ``aud`` holding our client id (and ``azp``
  ours when there are several), ``exp`` and ``iat`` within ``clock_skew`` (60 s by default),
  ``nonce`` the one this browser's sign-in made.
- **Key rotation**: the JWKS is cached; a token signed with a ``kid`` we do not hold makes one
  fresh fetch of the JWKS, and if the key is still not there the token is refused.

Blocking (urllib): the pages call it in the thread pool.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from escalation_flow.errors import SignInError, SignInProviderDownError
from escalation_flow.web.oidc_config import SignInProvider

#: Signatures the provider's own private key makes; ``none`` and HS* (our client secret as the
#: key) are never accepted for an ID token.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
TIMEOUT_SECONDS = 10.0
#: How long a failed discovery is answered from memory before the provider is asked again.
DISCOVERY_RETRY_SECONDS = 30.0
MAX_RESPONSE_BYTES = 1_000_000

#: ``fetch(url, form, basic_auth)``: the JSON a URL answers (a POST when ``form`` is given).
Fetch = Callable[[str, Mapping[str, str] | None, tuple[str, str] | None], dict[str, Any]]


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: frozenset[str]


class OidcClient:
    """One provider's relying party: discovery and the JWKS fetched on first use, then kept."""

    def __init__(
        self,
        provider: SignInProvider,
        fetch: Fetch | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self._fetch = fetch or http_fetch
        # a duration since a failure, not an instant: the service's clock may be simulated
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._failed: tuple[float, SignInError] | None = None
        self._keys: KeySet | None = None

    def discovery(self) -> Discovery:
        """The provider's discovery document, read once; a failure is raised again from memory
        for ``DISCOVERY_RETRY_SECONDS``."""
        with self._lock:
            if self._discovery is not None:
                return self._discovery
            if self._failed is not None:
                at, error = self._failed
                if self._monotonic() - at < DISCOVERY_RETRY_SECONDS:
                    raise SignInProviderDownError(str(error))
            try:
                self._discovery = _discovery(self.provider.issuer, self._fetch)
            except SignInError as exc:
                self._failed = (self._monotonic(), exc)
                raise
            self._failed = None
            return self._discovery

    def authorization_url(self, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        return f"{self.discovery().authorization_endpoint}?{urlencode(query, quote_via=quote)}"

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The ID token the token endpoint gives for ``code`` (client_secret_basic, PKCE)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth = (self.provider.client_id, self.provider.client_secret)
        answer = self._fetch(self.discovery().token_endpoint, form, auth)
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise SignInError("the token endpoint's answer has no id_token")
        return token

    def verify(self, id_token: str, nonce: str, now: datetime) -> dict[str, Any]:
        """The ID token's claims once every check has passed; SignInError saying which failed."""
        alg, kid = _header(id_token)
        if alg not in ASYMMETRIC or alg not in self.discovery().algorithms:
            raise SignInError(f"id token: algorithm {alg!r} is not accepted")
        key_set = self._key_set(kid)
        try:
            claims = jwt.decode(id_token, key_set, algorithms=[alg]).claims
        except JoseError as exc:
            raise SignInError(f"id token: signature not valid ({exc.error})") from None
        check_claims(claims, self.provider, nonce, now)
        return claims

    def _key_set(self, kid: str | None) -> KeySet:
        """The provider's keys, fetched again (once) when they do not hold ``kid``."""
        with self._lock:
            if self._keys is not None and _holds(self._keys, kid):
                return self._keys
        fresh = _key_set(self.discovery().jwks_uri, self._fetch)
        with self._lock:
            self._keys = fresh
        if not _holds(fresh, kid):
            raise SignInError(f"id token: signed with key {kid!r}, not in the provider's JWKS")
        return fresh


def check_claims(
    claims: Mapping[str, Any], provider: SignInProvider, nonce: str, now: datetime
) -> None:
    """The ID token's claims (OpenID Connect Core 1.0, 3.1.3.7) against our clock."""
    if claims.get("iss") != provider.issuer and claims.get("iss") not in provider.issuer_aliases:
        raise SignInError("id token: wrong issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or provider.client_id not in audiences:
        raise SignInError("id token: wrong audience")
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise SignInError("id token: several audiences and not authorised for us (azp)")
    skew = provider.clock_skew.total_seconds()
    instant = now.timestamp()
    expiry, issued = claims.get("exp"), claims.get("iat")
    if not isinstance(expiry, int | float) or not isinstance(issued, int | float):
        raise SignInError("id token: no exp or iat")
    if expiry + skew <= instant:
        raise SignInError("id token: expired")
    if issued - skew > instant:
        raise SignInError("id token: issued in the future")
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), nonce.encode()):
        raise SignInError("id token: nonce is not this sign-in's")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SignInError("id token: no subject")


def s256(verifier: str) -> str:
    """The PKCE code challenge (RFC 7636, S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def http_fetch(
    url: str, form: Mapping[str, str] | None, basic: tuple[str, str] | None
) -> dict[str, Any]:
    """GET (or with ``form``, POST) ``url`` and read its JSON object; SignInError otherwise."""
    headers = {"Accept": "application/json"}
    data = None
    if form is not None:
        data = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if basic is not None:
        # RFC 6749, 2.3.1: the id and secret are form-encoded before they are joined
        pair = f"{quote(basic[0], safe='')}:{quote(basic[1], safe='')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise SignInError(f"{url} answered {exc.code}: {_oauth_error(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SignInError(f"{url} could not be reached: {exc}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise SignInError(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
    try:
        value = json.loads(body)
    except ValueError:
        raise SignInError(f"{url} did not answer JSON") from None
    if not isinstance(value, dict):
        raise SignInError(f"{url} did not answer a JSON object")
    return value


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    """The OAuth ``error`` code of a refusal (its description can echo what we sent: left out)."""
    try:
        found = json.loads(exc.read(10_000)).get("error")
    except (ValueError, AttributeError, OSError):
        return "no error code"
    return str(found)[:100] if found else "no error code"


def _discovery(issuer: str, fetch: Fetch) -> Discovery:
    doc = fetch(f"{issuer}/.well-known/openid-configuration", None, None)
    if doc.get("issuer") != issuer:
        raise SignInError(f"the discovery document's issuer is not {issuer}")
    fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [f for f in fields if not isinstance(doc.get(f), str)]
    if missing:
        raise SignInError(f"the discovery document has no {', '.join(missing)}")
    algorithms = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    return Discovery(
        issuer=issuer,
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        algorithms=frozenset(str(a) for a in algorithms) & ASYMMETRIC,
    )


def _key_set(jwks_uri: str, fetch: Fetch) -> KeySet:
    doc = fetch(jwks_uri, None, None)
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise SignInError("the provider's JWKS has no keys")
    # only signing keys: a provider may publish encryption keys beside them
    signing = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    try:
        return KeySet.import_key_set({"keys": signing})
    except (JoseError, ValueError) as exc:
        raise SignInError(f"the provider's JWKS cannot be read: {exc}") from None


def _holds(keys: KeySet, kid: str | None) -> bool:
    return any(key.kid == kid for key in keys) if kid else len(keys.keys) == 1


def _header(id_token: str) -> tuple[str | None, str | None]:
    try:
        header = extract_compact(id_token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise SignInError("id token: not a signed JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    return (alg if isinstance(alg, str) else None), (kid if isinstance(kid, str) else None)
