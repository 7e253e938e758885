"""scripts/make_trust.py: deterministic synthetic trusts whose registers keep the contract."""

from __future__ import annotations

import csv
import importlib
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.yaml_source import read_yaml
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import ID_OF_CODE

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
SAMPLE = REPO / "config" / "sample-trust"
LONDON = ZoneInfo("Europe/London")
FLOWS = {
    "leigh-academy-oaks",
    "sherrier-ce-primary",
    "family-liaison-five-stage",
    "academy-staged-intervention",
    "who-does-what-and-when",
}
# Crosses the October half term and the clock change on 26 October 2025.
TINY = [
    "--schools",
    "2",
    "--pupils-per-school",
    "5",
    "--seed",
    "11",
    "--from",
    "2025-10-06",
    "--to",
    "2025-11-21",
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "tiny"
    subprocess.run(
        [sys.executable, str(SCRIPTS / "make_trust.py"), "--out", str(out), *TINY],
        check=True,
        capture_output=True,
    )
    return out


def _calendars(trust_file: Path) -> dict[str, SchoolCalendar]:
    schools: Any = read_yaml(trust_file).data["schools"]
    return {
        str(s["id"]): load_calendar([trust_file.parent / c for c in s["calendars"]])
        for s in schools
    }


def _rows(marks: Path) -> list[dict[str, str]]:
    with marks.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_same_arguments_write_the_same_bytes(tiny: Path) -> None:
    before = _snapshot(tiny)
    sys.path.insert(0, str(SCRIPTS))
    try:
        trust = importlib.import_module("trustgen.trust")
        cli = importlib.import_module("make_trust")
        trust.make_trust(cli.parse_args(["--out", str(tiny), *TINY]))
    finally:
        sys.path.remove(str(SCRIPTS))
    assert set(before) >= {"trust.yaml", "roster.csv", "marks.csv"}
    assert _snapshot(tiny) == before


def test_every_mark_is_a_valid_code_on_a_school_day_of_its_school(tiny: Path) -> None:
    calendars = _calendars(tiny / "trust.yaml")
    rows = _rows(tiny / "marks.csv")
    assert list(rows[0]) == [
        "school",
        "pupil",
        "date",
        "session",
        "code",
        "minutes_late",
        "recorded_at",
    ]
    for row in rows:
        assert calendars[row["school"]].is_school_day(date.fromisoformat(row["date"])), row
        assert row["session"] in ("AM", "PM")
        assert row["code"] in ID_OF_CODE, row
        assert bool(row["minutes_late"]) == (row["code"] in ("L", "U")), row
        recorded = datetime.fromisoformat(row["recorded_at"])
        assert recorded.utcoffset() == recorded.astimezone(LONDON).utcoffset(), row
    offsets = {r["recorded_at"][-6:] for r in rows}
    assert offsets == {"+01:00", "+00:00"}


def test_every_session_of_a_pupil_on_roll_has_a_mark(tiny: Path) -> None:
    calendars = _calendars(tiny / "trust.yaml")
    sessions: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for row in _rows(tiny / "marks.csv"):
        sessions[row["school"], row["pupil"]].add((row["date"], row["session"]))
    with (tiny / "roster.csv").open(newline="", encoding="utf-8") as f:
        roster = list(csv.DictReader(f))
    assert len(roster) == 10 == len(sessions)
    for pupil in roster:
        first = max(date(2025, 10, 6), date.fromisoformat(pupil["admitted"]))
        last = date.fromisoformat(pupil["left"]) if pupil["left"] else date(2025, 11, 21)
        days = [d for d in calendars[pupil["school"]].school_days if first <= d <= last]
        assert len(sessions[pupil["school"], pupil["pupil"]]) == 2 * len(days)


def test_amendments_are_later_rows_turning_n_into_a_reason(tiny: Path) -> None:
    versions: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for row in _rows(tiny / "marks.csv"):
        versions[row["school"], row["pupil"], row["date"], row["session"]].append(row)
    amended = [v for v in versions.values() if len(v) > 1]
    assert amended
    for first, *later in amended:
        assert first["code"] == "N"
        assert first["recorded_at"][:10] == first["date"]
        times = [datetime.fromisoformat(r["recorded_at"]) for r in (first, *later)]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(r["code"] in ("I", "O") for r in later)


def test_the_bundled_sample_trust_loads_and_stays_small() -> None:
    schools: Any = read_yaml(SAMPLE / "trust.yaml").data["schools"]
    assert {Path(s["flow"]).stem for s in schools} == FLOWS
    assert all(s["flow"].startswith("../../flows/") for s in schools)
    calendars = _calendars(SAMPLE / "trust.yaml")
    assert len(calendars) == 5
    for row in _rows(SAMPLE / "marks.csv"):
        assert calendars[row["school"]].is_school_day(date.fromisoformat(row["date"])), row
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 3_000_000
