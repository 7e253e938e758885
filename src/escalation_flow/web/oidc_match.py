"""Who a signed-in person is here: the ID token's claims matched to a staff record (pure).

- **Linked first.** A staff record linked to this provider's subject is that person, whatever
  their email says now (an address can be renamed or given to someone else; the subject is
  not). The subject is Entra ID's ``oid`` or, elsewhere, ``sub`` (``SignInProvider``).
- **Else by an email the provider vouches for**, once: ``email_verified`` true, or for Entra ID
  (which sends no such claim) the sign-in name of the trust's own directory (``email`` when
  ``xms_edov`` says its domain is verified, else ``preferred_username`` but only when its
  domain is one of ``oidc_email_domains``: an Entra guest's sign-in name is their home
  address, which the trust's tenant never verified). With ``oidc_email_domains`` set, only
  those domains. The match is ASCII case-insensitive; it links the subject to the record, and
  later sign-ins must carry that subject.
- **Only plain ASCII emails are matched.** An email with any other character as the provider
  gave it is refused (``EMAIL_NOT_ASCII``), never folded: Unicode case folding and NFKC map
  look-alikes onto ASCII (the Kelvin sign ``\u212a`` lower-cases to ``k``), so
  ``\u212aate@trust.example`` would otherwise be linked to Kate's record.
- **A record already linked to another subject is never matched by email**: an administrator
  who changes the email (``users email``) unlinks it on purpose.
- Roles stay in the service: the provider only says who someone is, never what they may do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from escalation_flow.ports import StaffAccount
from escalation_flow.web.oidc_config import SignInProvider

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Refusal(Enum):
    """Why a signed-in person is not let in (the audit log's detail; the page's words)."""

    NO_STAFF_RECORD = "no staff record has this email"
    EMAIL_NOT_VOUCHED = "the provider does not vouch for the email"
    DOMAIN_NOT_ALLOWED = "the email's domain is not one of oidc_email_domains"
    EMAIL_NOT_ASCII = (
        "the email is not plain ASCII as the provider gave it (never matched: a look-alike "
        "character could pass for another person's address)"
    )
    LINKED_TO_ANOTHER = "the staff record is linked to another account"
    DISABLED = "the staff record is disabled"
    NO_SUBJECT = "the token names no subject"


@dataclass(frozen=True)
class Identity:
    """What the ID token says about who signed in."""

    issuer: str
    subject: str | None
    email: str | None  # lower-cased ASCII; the one the provider vouches for, else None
    claimed: str  # what to write in the audit log as the one who tried
    #: the provider vouched for an email that is not plain ASCII (refused, never matched)
    not_ascii: bool = False

    @property
    def domain(self) -> str | None:
        return None if self.email is None else self.email.rsplit("@", 1)[1]


@dataclass(frozen=True)
class Match:
    """Let in (``account``, with ``link`` when the subject is to be linked now), or refused."""

    account: StaffAccount | None
    link: bool = False
    refusal: Refusal | None = None


def identity_of(claims: Mapping[str, Any], provider: SignInProvider) -> Identity:
    subject = claims.get(provider.subject_claim) or claims.get("sub")
    vouched = _vouched_email(claims, provider)
    email = _normal(vouched) if vouched else None
    claimed = email or _text(claims.get("email")) or _text(claims.get("preferred_username"))
    return Identity(
        issuer=provider.issuer,
        subject=str(subject) if subject else None,
        email=email,
        claimed=(claimed or str(subject or "?"))[:64],
        not_ascii=vouched is not None and not vouched.isascii(),
    )


def choose(
    identity: Identity,
    linked: StaffAccount | None,
    by_email: StaffAccount | None,
    domains: frozenset[str],
) -> Match:
    """``linked``: the record linked to the identity's subject; ``by_email``: the record with
    the identity's vouched email (both looked up by the caller)."""
    if identity.subject is None:
        return Match(None, refusal=Refusal.NO_SUBJECT)
    if linked is not None:
        return Match(linked) if linked.active else Match(None, refusal=Refusal.DISABLED)
    if identity.not_ascii:
        return Match(None, refusal=Refusal.EMAIL_NOT_ASCII)
    if identity.email is None:
        return Match(None, refusal=Refusal.EMAIL_NOT_VOUCHED)
    if domains and identity.domain not in domains:
        return Match(None, refusal=Refusal.DOMAIN_NOT_ALLOWED)
    if by_email is None:
        return Match(None, refusal=Refusal.NO_STAFF_RECORD)
    if by_email.oidc_subject is not None:
        return Match(None, refusal=Refusal.LINKED_TO_ANOTHER)
    if not by_email.active:
        return Match(None, refusal=Refusal.DISABLED)
    return Match(by_email, link=True)


def email_problem(email: str) -> str | None:
    """Why ``email`` cannot be a member of staff's email, or None."""
    if len(email) > 254 or not _EMAIL.match(email.strip()):
        return f"{email!r} is not an email address (name@school.example)"
    if not email.isascii():
        return (
            f"{email!r} has a character that is not plain ASCII: single sign-on matches only "
            "ASCII emails (type it again without look-alike letters)"
        )
    return None


def _vouched_email(claims: Mapping[str, Any], provider: SignInProvider) -> str | None:
    """The email the provider vouches for, as it gave it (trimmed, not yet folded)."""
    email = _text(claims.get("email"))
    if email and claims.get("email_verified") in (True, "true"):
        return email
    if provider.tenant_names_vouched:
        if email and claims.get("xms_edov") in (True, "true", "1", 1):
            return email
        name = _text(claims.get("preferred_username"))
        # an Entra guest's sign-in name is their home address: vouched only in the trust's domains
        if name and _EMAIL.match(name) and _domain(name) in provider.email_domains:
            return name
    return None


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[1].lower()


def _normal(email: str) -> str | None:
    """Lower-cased, only when ``email`` is plain ASCII as given: ``str.lower`` and NFKC fold
    look-alikes (the Kelvin sign) onto ASCII letters, so nothing else is ever folded."""
    if not email.isascii():
        return None
    text = email.strip().lower()
    return text if _EMAIL.match(text) else None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
