from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Flow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def calendar() -> SchoolCalendar:
    return load_calendar(
        [ROOT / "config/calendars/england-2025-26.yaml", ROOT / "config/calendars/england-2026-27.yaml"]
    )


def flow(name: str) -> Flow:
    return load_flow(ROOT / "flows" / f"{name}.yaml")
