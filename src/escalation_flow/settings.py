"""Settings, read from the environment with the ``ESCALATION_FLOW_`` prefix (or a ``.env`` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ESCALATION_FLOW_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite:///var/escalation-flow.sqlite",
        description="SQLAlchemy URL of the store: a SQLite file by default, or postgresql+psycopg://...",
    )
    trust_file: Path = Field(
        default=Path("config/sample-trust/trust.yaml"),
        description="The trust file naming each school with its flow, calendar and overrides.",
    )
    inbox_dir: Path = Field(
        default=Path("var/inbox"),
        description="Folder the daemon watches for new MIS register exports.",
    )
    log_format: str = Field(
        default="auto",
        description="'console', 'json', or 'auto' (console on a terminal, JSON otherwise).",
    )
    log_level: str = Field(default="INFO", description="Lowest log level written.")
    overdue_margin_minutes: int = Field(
        default=60,
        description="`status` exits non-zero when a timer is overdue by more than this.",
    )
    letter_workers: int | None = Field(
        default=None,
        ge=0,
        description="Processes rendering letters' PDFs after a day's commit (0: in the command's "
        "own process); default one a core, once there are more than a few letters.",
    )
    # -- the outbox's SMTP sender (issue 15); no host: nothing is emailed, letters stay queued --
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server approved letters are emailed through (none: not sent).",
    )
    smtp_port: int = Field(default=587, description="SMTP port (587: submission with STARTTLS).")
    smtp_username: str | None = Field(default=None, description="SMTP login (none: no AUTH).")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_from: str | None = Field(
        default=None, description="The From address of letters emailed (required to send)."
    )
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the connection with STARTTLS before logging in."
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA (or certificate) the SMTP server's TLS is checked "
        "against (none: the system's trust store); a trust's own mail relay.",
    )
    smtp_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for the SMTP server at each step."
    )
    daemon_keeps_registers: bool = Field(
        default=True,
        description="The daemon keeps each school's marks in memory between days and reads only "
        "new imports' rows (about 31 bytes a mark: 240 MB for 7.65M marks).",
    )
    register_snapshots_dir: str | None = Field(
        default=None,
        description="Folder the daemon saves its kept registers to when it stops, so that its "
        "first evening after a restart reads only what the database shows is new (each file is "
        "used only when the database proves it; rejected ones, and a database's files after "
        "an erasure, a retention run or a restore, are deleted; folders 0700, files 0600). "
        "Unset: `register-snapshots` beside a SQLite database file; for PostgreSQL "
        "`$STATE_DIRECTORY/register-snapshots` (systemd's StateDirectory=), else "
        "`$XDG_STATE_HOME/escalation-flow/register-snapshots` (~/.local/state/...); "
        "empty: none.",
    )
    # -- operating it (issue 17): the daemon's Prometheus metrics --
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port the daemon serves /metrics on (none: no metrics; `daemon --metrics-port`).",
    )
    metrics_address: str = Field(
        default="127.0.0.1",
        description="Address the daemon's metrics listen on: this machine only unless changed.",
    )


def load_settings() -> Settings:
    """Read settings now (never at import time)."""
    return Settings()
