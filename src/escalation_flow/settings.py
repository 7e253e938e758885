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
    daemon_keeps_registers: bool = Field(
        default=True,
        description="The daemon keeps each school's marks in memory between days and reads only "
        "new imports' rows (about 31 bytes a mark: 240 MB for 7.65M marks).",
    )


def load_settings() -> Settings:
    """Read settings now (never at import time)."""
    return Settings()
