"""``escalation-flow facts`` as the contract gives it: files in, one JSON object out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.cli import main
from escalation_flow.core.fact_names import REGISTER_FACTS

ROOT = Path(__file__).resolve().parents[2]
CAL_2025 = ROOT / "config" / "calendars" / "england-2025-26.yaml"
CAL_2026 = ROOT / "config" / "calendars" / "england-2026-27.yaml"

CONTRACT_FACTS = (
    "possible_sessions",
    "attendance_pct",
    "late_sessions_this_half_term",
    "unauthorised_sessions_last_10_school_weeks",
    "unresolved_n_sessions",
)

MARKS = """school,pupil,date,session,code,minutes_late,recorded_at
oaks,P1,2025-09-03,AM,/,,2025-09-03T09:00:00+01:00
oaks,P1,2025-09-03,PM,\\,,2025-09-03T13:30:00+01:00
oaks,P1,2025-09-04,AM,N,,2025-09-04T09:00:00+01:00
oaks,P1,2025-09-04,PM,N,,2025-09-04T13:30:00+01:00
oaks,P1,2025-09-05,AM,L,12,2025-09-05T09:05:00+01:00
oaks,P1,2025-09-05,PM,U,40,2025-09-05T14:10:00+01:00
oaks,P1,2025-09-04,AM,I,,2025-09-08T10:00:00+01:00
oaks,P2,2025-09-03,AM,/,,
oaks,P2,2025-09-03,PM,\\,,
"""


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["facts", *args], env=env)


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks.csv"
    path.write_text(MARKS, encoding="utf-8")
    return path


def facts_json(marks: Path, *extra: str, pupil: str = "P1", as_of: str = "2025-09-08") -> dict:
    result = run(
        "--calendar", str(CAL_2025), "--marks", str(marks), "--school", "oaks",
        "--pupil", pupil, "--as-of", as_of, "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_prints_every_fact_of_the_contract_as_one_json_object(marks: Path) -> None:
    data = facts_json(marks, as_of="2025-09-05")
    assert set(CONTRACT_FACTS) <= set(data)
    assert list(data) == list(REGISTER_FACTS)
    # 3 school days, 6 possible sessions: /, \, I, N, L, U -> 3 attended.
    assert data["possible_sessions"] == 6
    assert data["attendance_pct"] == 50.0
    assert data["late_sessions_this_half_term"] == 2
    assert data["unauthorised_sessions_last_10_school_weeks"] == 2  # N and U
    assert data["unresolved_n_sessions"] == 1
    assert isinstance(data["possible_sessions"], int)
    assert data["attendance_pct_last_2_school_weeks"] is None  # 6 sessions: below 10


def test_known_at_reads_the_marks_as_they_stood_then(marks: Path) -> None:
    before = facts_json(marks, "--known-at", "2025-09-05T18:00:00+01:00", as_of="2025-09-05")
    assert before["unresolved_n_sessions"] == 2
    assert before["illness_sessions_this_term"] == 0
    assert facts_json(marks, as_of="2025-09-05")["illness_sessions_this_term"] == 1


def test_marks_without_recorded_at_count_from_the_time_of_reading(marks: Path) -> None:
    everything = facts_json(marks, pupil="P2", as_of="2025-09-03")
    assert everything["possible_sessions"] == 2
    earlier = facts_json(
        marks, "--known-at", "2025-09-04T00:00:00Z", pupil="P2", as_of="2025-09-03"
    )
    assert earlier["possible_sessions"] == 0
    assert earlier["unmarked_sessions"] == 2


def test_a_non_school_day_means_the_end_of_the_school_day_before(marks: Path) -> None:
    result = run(
        "--calendar", str(CAL_2025), "--marks", str(marks), "--school", "oaks",
        "--pupil", "P1", "--as-of", "2025-09-06", "--json",
    )  # fmt: skip
    assert result.exit_code == 0
    assert "2025-09-05" in result.stderr
    assert json.loads(result.stdout) == facts_json(marks, as_of="2025-09-05")


def test_two_calendars_cover_consecutive_years(marks: Path) -> None:
    result = run(
        "--calendar", str(CAL_2025), "--calendar", str(CAL_2026), "--marks", str(marks),
        "--school", "oaks", "--pupil", "P1", "--as-of", "2026-09-04", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["possible_sessions"] == 0  # a new academic year, nothing marked yet
    assert data["unmarked_sessions"] == 6
    assert data["unresolved_n_sessions"] == 1  # last September's N is still unresolved


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pupil", "P9", "--as-of", "2025-09-08"), "pupil 'P9' has no marks"),
        (("--pupil", "P1", "--as-of", "2025-08-20"), "2025-08-20 is outside calendar"),
        (("--pupil", "P1", "--as-of", "2025-09-08", "--known-at", "2025-09-08"), "--known-at"),
        (("--pupil", "P1", "--as-of", "2025-09-08", "--school", "elms"), "school 'elms'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    marks: Path, args: tuple[str, ...], message: str
) -> None:
    result = run("--calendar", str(CAL_2025), "--marks", str(marks), "--school", "oaks", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_bad_marks_file_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "school,pupil,date,session,code\n"
        "oaks,P1,2025-09-03,AM,/\n"
        "oaks,P1,2025-09-03,PM,H\n"
        "oaks,P1,2025-09-06,XM,/\n",
        encoding="utf-8",
    )
    result = run(
        "--calendar", str(CAL_2025), "--marks", str(bad), "--school", "oaks",
        "--pupil", "P1", "--as-of", "2025-09-08", "--json",
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"{bad}:3: code:" in result.stderr
    assert f"{bad}:4: session:" in result.stderr
    assert f"{bad}:4: date:" in result.stderr
    assert result.stdout == ""


def test_without_json_prints_a_table_with_units_and_descriptions(marks: Path) -> None:
    result = run(
        "--calendar", str(CAL_2025), "--marks", str(marks), "--school", "oaks",
        "--pupil", "P1", "--as-of", "2025-09-05",
    )  # fmt: skip
    assert result.exit_code == 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("attendance_pct "))
    assert "50.00" in line and "%" in line and "attendance this academic year" in line
    assert "unknown" in result.stdout


def test_reads_the_database_when_no_files_are_given(tmp_path: Path, marks: Path) -> None:
    from escalation_flow.adapters.register_files import read_marks
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.trust_files import load_trust

    (tmp_path / "flow.yaml").write_text("", encoding="utf-8")
    trust_file = tmp_path / "trust.yaml"
    trust_file.write_text(
        "name: t\ntimezone: Europe/London\nschools:\n"
        f"  - id: oaks\n    name: Oaks\n    urn: '100001'\n    flow: flow.yaml\n"
        f"    calendars: [{CAL_2025}]\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    trust = load_trust(trust_file)
    store = Store(url)
    store.migrate()
    store.upsert_schools(trust)
    imported_at = datetime(2025, 9, 10, tzinfo=UTC)
    store.import_marks(read_marks(marks, trust.calendars()), file=marks, now=imported_at, by="test")
    store.dispose()
    env = {"ESCALATION_FLOW_TRUST_FILE": str(trust_file), "ESCALATION_FLOW_DATABASE_URL": url}
    result = run("--school", "100001", "--pupil", "P1", "--as-of", "2025-09-05", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == facts_json(marks, as_of="2025-09-05")
    missing = run("--school", "oaks", "--pupil", "P9", "--as-of", "2025-09-05", env=env)
    assert missing.exit_code == 2
    assert "pupil 'P9'" in missing.stderr
