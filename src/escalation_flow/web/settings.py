"""Settings of the staff pages, from the environment with the ``ESCALATION_FLOW_WEB_`` prefix."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ESCALATION_FLOW_WEB_", env_file=".env", extra="ignore", frozen=True
    )

    secret_key: str | None = Field(
        default=None,
        description="Signs the login form's CSRF token. Unset: a random key per process (a "
        "restart only invalidates login forms already open; sessions live in the database).",
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="The Secure flag on cookies: 'auto' sets it when the request came over "
        "https (behind a proxy, run with --proxy-headers); 'always' for production.",
    )
    session_hours: float = Field(
        default=9.0, gt=0, description="A login lasts this long (a school day and a bit)."
    )
    login_free_failures: int = Field(
        default=3,
        ge=0,
        description="Wrong passwords for one account from one address before each further try "
        "must wait (the back-off).",
    )
    login_backoff_seconds: float = Field(
        default=2.0,
        gt=0,
        description="The first wait; it doubles with each further wrong password.",
    )
    login_backoff_cap_minutes: float = Field(
        default=15.0, gt=0, description="The longest wait the back-off asks for (never a lock)."
    )
    login_failures_per_address: int = Field(
        default=100,
        gt=0,
        description="Wrong passwords from one address, whatever the account, within "
        "login_address_window_minutes before that address waits (generous: a school's staff "
        "share one proxy's address).",
    )
    login_address_window_minutes: int = Field(
        default=60, gt=0, description="The window of the per-address ceiling."
    )
    login_forget_hours: int = Field(
        default=24, gt=0, description="Wrong passwords older than this no longer count."
    )
    password_login: bool = Field(
        default=True,
        description="Staff may log in with a password. Off (false) once the trust signs in "
        "through its identity provider: then only single sign-on (docs/sign-in.md).",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="Single sign-on: the identity provider's issuer URL, or a preset: "
        "'entra:<directory (tenant) id>' (Microsoft Entra ID) or 'google' (Google Workspace). "
        "Unset: no single sign-on.",
    )
    oidc_client_id: str | None = Field(
        default=None, description="The service's client (application) id at the provider."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The client secret the provider issued to the service."
    )
    oidc_redirect_base: str | None = Field(
        default=None,
        description="The pages' public address (https://attendance.trust.example): the "
        "redirect URI registered at the provider is this followed by /login/sso/callback. "
        "Unset: the address each request came to (fine without a proxy in between).",
    )
    oidc_email_domains: str = Field(
        default="",
        description="Comma-separated email domains whose staff may be matched by email at "
        "their first sign-in (school.org.uk,trust.org.uk). Empty: any domain the provider "
        "vouches for.",
    )
    oidc_clock_skew_seconds: int = Field(
        default=60,
        ge=0,
        le=300,
        description="How far the provider's clock may be from ours when an ID token's times "
        "are checked (issued at, expiry).",
    )
    today: date | None = Field(
        default=None,
        description="Show the pages as if today were this school day (demonstrations on "
        "sample data from a past year). Unset: the real date.",
    )


def load_web_settings() -> WebSettings:
    """Read settings now (never at import time)."""
    return WebSettings()
