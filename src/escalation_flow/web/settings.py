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
    login_window_minutes: int = Field(
        default=15, gt=0, description="Failed logins are counted over this many minutes."
    )
    login_failures_per_user: int = Field(
        default=5, gt=0, description="Failed logins for one username before it is paused."
    )
    login_failures_per_address: int = Field(
        default=30, gt=0, description="Failed logins from one address before it is paused."
    )
    today: date | None = Field(
        default=None,
        description="Show the pages as if today were this school day (demonstrations on "
        "sample data from a past year). Unset: the real date.",
    )


def load_web_settings() -> WebSettings:
    """Read settings now (never at import time)."""
    return WebSettings()
