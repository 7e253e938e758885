"""Which identity provider staff sign in through: the settings read into one ``SignInProvider``.

Two presets are configuration only, taken from their published discovery documents
(docs/sign-in.md): ``entra:<tenant id>`` is Microsoft Entra ID for one directory (issuer
``https://login.microsoftonline.com/{tenant}/v2.0``) and ``google`` is Google (issuer
``https://accounts.google.com``); any other provider is named by its issuer URL. What is tested
is the protocol, against a real provider the tests start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from escalation_flow.errors import InputError, Problem
from escalation_flow.web.settings import WebSettings

ENTRA_ISSUER = "https://login.microsoftonline.com/{tenant}/v2.0"
GOOGLE_ISSUER = "https://accounts.google.com"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
#: Entra's multi-tenant endpoints let in any organisation's (or anyone's) Microsoft account.
_SHARED_TENANTS = {"common", "organizations", "consumers"}
_SOURCE = "environment"


@dataclass(frozen=True)
class SignInProvider:
    """The identity provider as the sign-in uses it."""

    issuer: str
    label: str  # "Sign in with {label}"
    #: the claim that names a person for good: Entra's ``oid`` (their object id in the trust's
    #: directory, the same for every app the trust registers), elsewhere the standard ``sub``
    subject_claim: str
    #: Entra ID sends no ``email_verified``: one tenant's sign-in names are the trust's own
    #: (domains it has verified), so they are taken as vouched for at the first sign-in
    tenant_names_vouched: bool
    client_id: str
    client_secret: str
    redirect_base: str | None
    email_domains: frozenset[str]
    clock_skew: timedelta
    #: other spellings of the issuer the provider's ID tokens carry: Google documents
    #: ``accounts.google.com`` beside ``https://accounts.google.com``
    issuer_aliases: frozenset[str] = frozenset()


def sign_in_provider(settings: WebSettings) -> SignInProvider | None:
    """The configured provider (None: passwords only); InputError naming each setting that is
    wrong, all at once."""
    problems: list[Problem] = []
    if settings.oidc_issuer is None:
        if not settings.password_login:
            problems.append(
                _problem(
                    "PASSWORD_LOGIN",
                    "passwords are off and no single sign-on is set up "
                    "(ESCALATION_FLOW_WEB_OIDC_ISSUER): nobody could log in",
                )
            )
        _raise(problems)
        return None
    issuer, label, subject, vouched = _preset(settings.oidc_issuer.strip(), problems)
    aliases = frozenset({"accounts.google.com"}) if issuer == GOOGLE_ISSUER else frozenset()
    client_id = (settings.oidc_client_id or "").strip()
    if not client_id:
        problems.append(_problem("OIDC_CLIENT_ID", "needed with OIDC_ISSUER"))
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    if not secret:
        problems.append(_problem("OIDC_CLIENT_SECRET", "needed with OIDC_ISSUER"))
    base = _redirect_base(settings.oidc_redirect_base, problems)
    domains = frozenset(
        d.strip().lower().lstrip("@") for d in settings.oidc_email_domains.split(",") if d.strip()
    )
    _raise(problems)
    return SignInProvider(
        issuer=issuer,
        label=label,
        subject_claim=subject,
        tenant_names_vouched=vouched,
        client_id=client_id,
        client_secret=secret,
        redirect_base=base,
        email_domains=domains,
        clock_skew=timedelta(seconds=settings.oidc_clock_skew_seconds),
        issuer_aliases=aliases,
    )


def _preset(value: str, problems: list[Problem]) -> tuple[str, str, str, bool]:
    """(issuer, label, subject claim, tenant names vouched for) for a preset or an issuer URL."""
    if value.lower().startswith("entra:"):
        tenant = value.split(":", 1)[1].strip()
        if tenant.lower() in _SHARED_TENANTS or not _GUID.match(tenant):
            problems.append(
                _problem(
                    "OIDC_ISSUER",
                    f"{value!r}: give the trust's directory (tenant) id, a GUID "
                    "(entra:00000000-0000-0000-0000-000000000000); 'common' and "
                    "'organizations' would let in other organisations' accounts",
                )
            )
        return ENTRA_ISSUER.format(tenant=tenant.lower()), "Microsoft", "oid", True
    if value.lower() == "google":
        return GOOGLE_ISSUER, "Google", "sub", False
    if not _web_address(value):
        problems.append(
            _problem(
                "OIDC_ISSUER",
                f"{value!r}: not an https address, 'entra:<tenant id>' or 'google'",
            )
        )
    issuer = value.rstrip("/")
    return issuer, urlsplit(issuer).hostname or issuer, "sub", False


def _redirect_base(value: str | None, problems: list[Problem]) -> str | None:
    if value is None or not value.strip():
        return None
    base = value.strip().rstrip("/")
    if not _web_address(base):
        problems.append(_problem("OIDC_REDIRECT_BASE", f"{value!r}: not an https address"))
    return base


def _web_address(value: str) -> bool:
    """https, or http to this machine only (a provider run for tests or a trial)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}


def _problem(name: str, message: str) -> Problem:
    return Problem(_SOURCE, None, f"ESCALATION_FLOW_WEB_{name}", message)


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise InputError("the single sign-on settings are not usable", problems)
