"""The parts of single sign-on that need no provider: the settings and presets, who an ID token
names and which staff record that is, the claim checks against our clock, and the JWKS fetched
again only for a key it does not hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from escalation_flow.errors import InputError, SignInError, SignInProviderDownError
from escalation_flow.web.oidc_client import (
    DISCOVERY_RETRY_SECONDS,
    OidcClient,
    check_claims,
    s256,
)
from escalation_flow.web.oidc_config import SignInProvider, sign_in_provider
from escalation_flow.web.oidc_flow import provider_error
from escalation_flow.web.oidc_match import Refusal, choose, email_problem, identity_of
from escalation_flow.web.settings import WebSettings

TENANT = "0b0c4f5e-1a2b-4c3d-8e9f-001122334455"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ISSUER = "https://id.trust.example"


def settings(**values: Any) -> WebSettings:
    base = {"oidc_client_id": "ef", "oidc_client_secret": "s" * 20}
    return WebSettings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


def provider(**values: Any) -> SignInProvider:
    found = sign_in_provider(settings(oidc_issuer=ISSUER, **values))
    assert found is not None
    return found


def test_the_entra_preset_is_one_directory_keyed_by_object_id() -> None:
    entra = sign_in_provider(settings(oidc_issuer=f"entra:{TENANT}"))
    assert entra is not None
    assert entra.issuer == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert (entra.label, entra.subject_claim, entra.tenant_names_vouched) == (
        "Microsoft", "oid", True
    )


def test_the_google_preset_is_google_keyed_by_sub() -> None:
    google = sign_in_provider(settings(oidc_issuer="google"))
    assert google is not None
    assert (google.issuer, google.subject_claim, google.tenant_names_vouched) == (
        "https://accounts.google.com", "sub", False
    )


def test_google_id_tokens_may_name_the_issuer_without_its_scheme() -> None:
    google = sign_in_provider(settings(oidc_issuer="google"))
    assert google is not None
    check_claims(claims(iss="accounts.google.com"), google, "n1", NOW)
    with pytest.raises(SignInError, match="wrong issuer"):
        check_claims(claims(iss="https://accounts.google.com.evil.example"), google, "n1", NOW)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"oidc_issuer": "entra:common"}, "ESCALATION_FLOW_WEB_OIDC_ISSUER"),
        ({"oidc_issuer": "http://id.trust.example"}, "ESCALATION_FLOW_WEB_OIDC_ISSUER"),
        ({"oidc_issuer": ISSUER, "oidc_client_id": ""}, "ESCALATION_FLOW_WEB_OIDC_CLIENT_ID"),
        ({"oidc_issuer": ISSUER, "oidc_redirect_base": "ftp://x"}, "ESCALATION_FLOW_WEB_OIDC_REDIRECT_BASE"),
        ({"password_login": False}, "ESCALATION_FLOW_WEB_PASSWORD_LOGIN"),
    ],
    ids=["entra-common", "plain-http", "no-client-id", "bad-redirect-base", "nobody-could-log-in"],
)
def test_unusable_sign_in_settings_are_refused_naming_the_setting(
    values: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        sign_in_provider(settings(**values))
    assert [p.field for p in caught.value.problems] == [field]


def test_no_issuer_means_passwords_only() -> None:
    assert sign_in_provider(settings()) is None


@pytest.mark.parametrize(
    ("claims", "email"),
    [
        ({"email": "A.B@School.example", "email_verified": True}, "a.b@school.example"),
        ({"email": "a.b@school.example", "email_verified": False}, None),
        ({"email": "a.b@school.example"}, None),
    ],
)
def test_only_an_email_the_provider_vouches_for_is_used(
    claims: dict[str, Any], email: str | None
) -> None:
    assert identity_of({"sub": "s1", **claims}, provider()).email == email


def test_entra_names_the_person_by_oid_and_vouches_for_its_own_sign_in_names() -> None:
    entra = sign_in_provider(
        settings(oidc_issuer=f"entra:{TENANT}", oidc_email_domains="school.example")
    )
    assert entra is not None
    claims = {"sub": "pairwise", "oid": "object-id", "preferred_username": "J.Evans@School.example"}
    found = identity_of(claims, entra)
    assert (found.subject, found.email) == ("object-id", "j.evans@school.example")


@pytest.mark.parametrize("domains", ["", "school.example"])
def test_an_entra_guests_home_address_is_not_vouched_for(domains: str) -> None:
    """A guest's preferred_username is their home tenant's name (never verified by ours): it
    counts only in the trust's own email domains, and not at all when none are set."""
    entra = sign_in_provider(settings(oidc_issuer=f"entra:{TENANT}", oidc_email_domains=domains))
    assert entra is not None
    claims = {"sub": "pairwise", "oid": "guest-oid", "preferred_username": "kate@home.example"}
    found = identity_of(claims, entra)
    assert found.email is None
    assert choose(found, None, None, entra.email_domains).refusal is Refusal.EMAIL_NOT_VOUCHED


@pytest.mark.parametrize(
    "email",
    [
        "\u212aate@trust.example",  # the Kelvin sign: lower-cases to "kate@trust.example"
        "kate@trust.ex\u0430mple",  # a Cyrillic a
        "\uff4bate@trust.example",  # a fullwidth k: NFKC makes it "k"
    ],
)
def test_an_email_that_is_not_plain_ascii_is_never_matched_and_says_so(email: str) -> None:
    found = identity_of({"sub": "attacker", "email": email, "email_verified": True}, provider())
    assert found.email is None and found.not_ascii
    kate = Account(email="kate@trust.example")
    match = choose(found, None, kate, frozenset())
    assert match.account is None and match.refusal is Refusal.EMAIL_NOT_ASCII
    assert "ASCII" in Refusal.EMAIL_NOT_ASCII.value
    from escalation_flow.web.pages_login import REFUSED_WORDS

    assert Refusal.EMAIL_NOT_ASCII.name in REFUSED_WORDS, "a page of its own, not token words"


@dataclass(frozen=True)
class Account:
    id: int = 1
    username: str = "lead"
    active: bool = True
    password_hash: str = "!"
    email: str | None = "a@school.example"
    oidc_subject: str | None = None

    def principal(self) -> Any:
        raise NotImplementedError


VOUCHED = identity_of({"sub": "s1", "email": "a@school.example", "email_verified": True}, provider())
UNVOUCHED = identity_of({"sub": "s1", "email": "a@school.example"}, provider())


@pytest.mark.parametrize(
    ("identity", "linked", "by_email", "domains", "refusal", "link"),
    [
        (VOUCHED, Account(oidc_subject="s1"), None, frozenset(), None, False),
        (UNVOUCHED, Account(oidc_subject="s1"), None, frozenset(), None, False),
        (VOUCHED, Account(oidc_subject="s1", active=False), None, frozenset(), Refusal.DISABLED, False),
        (VOUCHED, None, Account(), frozenset(), None, True),
        (VOUCHED, None, Account(), frozenset({"school.example"}), None, True),
        (VOUCHED, None, Account(), frozenset({"other.example"}), Refusal.DOMAIN_NOT_ALLOWED, False),
        (UNVOUCHED, None, Account(), frozenset(), Refusal.EMAIL_NOT_VOUCHED, False),
        (VOUCHED, None, None, frozenset(), Refusal.NO_STAFF_RECORD, False),
        (VOUCHED, None, Account(oidc_subject="s2"), frozenset(), Refusal.LINKED_TO_ANOTHER, False),
        (VOUCHED, None, Account(active=False), frozenset(), Refusal.DISABLED, False),
    ],
    ids=[
        "linked", "linked-needs-no-email", "linked-disabled", "first-sign-in-links",
        "allowed-domain", "other-domain", "unvouched-email", "no-record",
        "record-linked-to-another", "record-disabled",
    ],
)
def test_who_a_signed_in_person_is_here(
    identity: Any, linked: Any, by_email: Any, domains: frozenset[str], refusal: Any, link: bool
) -> None:
    match = choose(identity, linked, by_email, domains)
    assert (match.refusal, match.link, match.account is None) == (refusal, link, refusal is not None)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    return {"iss": ISSUER, "aud": "ef", "sub": "s1", "exp": now + 300, "iat": now, "nonce": "n1",
            **changes}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"iss": "https://elsewhere.example"}, "wrong issuer"),
        ({"aud": "other"}, "wrong audience"),
        ({"aud": ["ef", "other"]}, "several audiences"),
        ({"exp": int(NOW.timestamp()) - 61}, "expired"),
        ({"iat": int(NOW.timestamp()) + 61}, "issued in the future"),
        ({"nonce": "n2"}, "nonce"),
        ({"sub": ""}, "no subject"),
    ],
)
def test_claims_outside_the_stated_skew_are_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(SignInError, match=why):
        check_claims(claims(**changes), provider(), "n1", NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(NOW.timestamp()) - 59},
        {"iat": int(NOW.timestamp()) + 59},
        {"aud": ["ef", "other"], "azp": "ef"},
    ],
)
def test_claims_within_the_skew_or_authorised_for_us_pass(changes: dict[str, Any]) -> None:
    check_claims(claims(**changes), provider(), "n1", NOW)


def test_the_pkce_challenge_is_rfc_7636s_example() -> None:
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


class FakeProvider:
    """Discovery and a JWKS served from memory, counting the JWKS fetches."""

    def __init__(self, *keys: RSAKey) -> None:
        self.published = list(keys)
        self.jwks_fetches = 0

    def fetch(self, url: str, form: Any, basic: Any) -> dict[str, Any]:
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"]}  # fmt: skip
        assert url == f"{ISSUER}/jwks"
        self.jwks_fetches += 1
        return {"keys": [k.as_dict(private=False) for k in self.published]}


def rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


def signed(key: RSAKey, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims(), key)


def test_the_jwks_is_kept_and_fetched_again_once_for_a_key_it_does_not_hold() -> None:
    old, new = rsa("old"), rsa("new")
    fake = FakeProvider(old)
    client = OidcClient(provider(), fake.fetch)
    client.verify(signed(old), "n1", NOW)
    client.verify(signed(old), "n1", NOW)
    assert fake.jwks_fetches == 1
    fake.published = [new, old]  # the provider rotates
    client.verify(signed(new), "n1", NOW)
    assert fake.jwks_fetches == 2
    with pytest.raises(SignInError, match="not in the provider's JWKS"):
        client.verify(signed(rsa("never")), "n1", NOW)
    assert fake.jwks_fetches == 3  # once more for the unknown key, and no more


def test_a_token_signed_with_a_shared_secret_or_none_is_refused() -> None:
    from joserfc.jwk import OctKey

    client = OidcClient(provider(), FakeProvider(rsa("k")).fetch)
    secret = OctKey.import_key("s" * 32, parameters={"kid": "k"})
    hs256 = jwt.encode({"alg": "HS256", "kid": "k"}, claims(), secret)
    with pytest.raises(SignInError, match="algorithm 'HS256' is not accepted"):
        client.verify(hs256, "n1", NOW)
    _, body, _ = hs256.split(".")
    unsigned = "eyJhbGciOiJub25lIn0." + body + "."  # {"alg":"none"}
    with pytest.raises(SignInError, match=r"algorithm 'none' is not accepted|not a signed JWT"):
        client.verify(unsigned, "n1", NOW)


def test_a_discovery_document_for_another_issuer_is_refused() -> None:
    def fetch(url: str, form: Any, basic: Any) -> dict[str, Any]:
        return {"issuer": "https://evil.example", "authorization_endpoint": "x",
                "token_endpoint": "y", "jwks_uri": "z"}  # fmt: skip

    with pytest.raises(SignInError, match="issuer is not"):
        OidcClient(provider(), fetch).discovery()


@pytest.mark.parametrize(
    "email", ["nobody", "a@b", "two@@x.example", "a b@x.example", "\u212aate@trust.example"]
)
def test_what_is_not_an_email_is_named(email: str) -> None:
    assert email_problem(email) is not None


def test_a_good_email_passes() -> None:
    assert email_problem("s.jones@school-01.example") is None
    assert timedelta(seconds=60) == provider().clock_skew


class DownProvider:
    """A provider whose discovery always fails, counting the calls made to it."""

    def __init__(self) -> None:
        self.calls = 0

    def fetch(self, url: str, form: Any, basic: Any) -> dict[str, Any]:
        self.calls += 1
        raise SignInError(f"{url} could not be reached: refused")


def test_a_failed_discovery_is_answered_from_memory_for_a_while_then_asked_again() -> None:
    down, seconds = DownProvider(), [1000.0]
    client = OidcClient(provider(), down.fetch, monotonic=lambda: seconds[0])
    with pytest.raises(SignInError, match="could not be reached") as first:
        client.discovery()
    assert not isinstance(first.value, SignInProviderDownError)
    for later in (1001.0, 1000.0 + DISCOVERY_RETRY_SECONDS - 1):
        seconds[0] = later
        with pytest.raises(SignInProviderDownError, match="could not be reached"):
            client.discovery()
    assert down.calls == 1, "every /login/sso called out to a provider that is down"
    seconds[0] = 1000.0 + DISCOVERY_RETRY_SECONDS
    with pytest.raises(SignInError):
        client.discovery()
    assert down.calls == 2


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        ("access_denied", "access_denied"),
        ("login_required", "login_required"),
        ("S01-P0007 call 07700900248" + "x" * 80, "unrecognised"),
        ("", "unrecognised"),
    ],
)
def test_only_a_registered_oauth_error_code_reaches_the_log(error: str, logged: str) -> None:
    assert provider_error(error) == logged
