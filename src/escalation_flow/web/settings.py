"""Settings of the staff pages, from the environment with the ``ESCALATION_FLOW_WEB_`` prefix."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field
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
    today: date | None = Field(
        default=None,
        description="Show the pages as if today were this school day (demonstrations on "
        "sample data from a past year). Unset: the real date.",
    )


def load_web_settings() -> WebSettings:
    """Read settings now (never at import time)."""
    return WebSettings()
