"""``escalation-flow backtest`` on the bundled sample trust: the same input gives the same bytes,
in separate processes with different hash seeds; the JSON has the contract's shape; and bad
input exits 2 naming the file and the line."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from escalation_flow.cli import main

from .conftest import ROOT

TRUST = ROOT / "config/sample-trust"
TO = "2025-11-28"
# the tests that read the two backtests of the sample trust (about 8-10 s together)
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Two runs at once (two cores), each its own interpreter with its own hash seed."""
    out = tmp_path_factory.mktemp("backtest")
    runs = []
    for seed in ("1", "2"):
        target = out / f"timeline-{seed}.json"
        args = [
            sys.executable, "-m", "escalation_flow", "backtest",
            "--trust", str(TRUST / "trust.yaml"), "--marks", str(TRUST / "marks.csv"),
            "--roster", str(TRUST / "roster.csv"), "--to", TO, "--auto-complete-actions",
            "--json", str(target),
        ]
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs.append((target, subprocess.Popen(args, env=env, stderr=subprocess.PIPE)))
    for _, proc in runs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    return [target.read_bytes() for target, _ in runs]


@pytest.fixture(scope="module")
def document(outputs: list[bytes]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(outputs[0])
    return parsed


@slow
def test_two_runs_give_identical_bytes(outputs: list[bytes]) -> None:
    first, second = outputs
    assert len(first) > 10_000
    assert first == second


@slow
def test_the_header_names_every_flow_with_its_version(document: dict[str, Any]) -> None:
    assert document["trust"] == "sample-trust"
    assert sorted(document["flows"]) == [
        "academy-staged-intervention",
        "family-liaison-five-stage",
        "leigh-academy-oaks",
        "sherrier-ce-primary",
        "who-does-what-and-when",
    ]
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in document["flows"].values())
    # the plans' school-level duties (one task per school and role) before the cases
    assert list(document) == ["trust", "flows", "duties", "cases"]
    assert {(d["school"], d["task"]) for d in document["duties"]} >= {
        ("school-01", "weekly_data_check"),
        ("school-02", "daily_data_check"),
        ("school-05", "daily_register_monitoring_admin"),
    }


@slow
def test_cases_are_sorted_by_school_then_pupil(document: dict[str, Any]) -> None:
    keys = [(c["school"], c["pupil"]) for c in document["cases"]]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))  # one entry per pupil, reopened cases included
    assert {c["school"] for c in document["cases"]} == {f"school-0{i}" for i in range(1, 6)}


@slow
def test_every_event_is_dated_typed_and_in_order(document: dict[str, Any]) -> None:
    for case in document["cases"]:
        events = case["events"]
        dates = [e["date"] for e in events]
        assert dates == sorted(dates), case["pupil"]
        assert all("2025-09-03" <= x <= TO for x in dates)
        assert all(isinstance(e["type"], str) and e["type"] for e in events)


@slow
def test_stage_entries_carry_the_plans_number_and_the_state(document: dict[str, Any]) -> None:
    entered = [e for c in document["cases"] for e in c["events"] if e["type"] == "stage_entered"]
    assert {e["stage"] for e in entered} == {1, 2, 3, 4, 5}
    for e in entered:
        assert e["state"].startswith(f"stage_{e['stage']}.")
        assert isinstance(e["reason"], dict)


@slow
def test_case_opened_and_case_closed_mark_each_cases_ends(document: dict[str, Any]) -> None:
    closed = 0
    for case in document["cases"]:
        ends = [e["type"] for e in case["events"] if e["type"] in ("case_opened", "case_closed")]
        assert case["events"][0]["type"] == "case_opened"
        # opened, closed, (re)opened, ...: never two of a kind in a row
        assert all(a != b for a, b in itertools.pairwise(ends)), case["pupil"]
        closed += ends.count("case_closed")
    assert closed > 0


# -- bad input --------------------------------------------------------------------------------------


def _run(tmp_path: Path, actions: str) -> tuple[int, str]:
    """A fortnight of one pupil present every session, under plan 000, with these actions."""
    marks = ["school,pupil,date,session,code"]
    for day in (*range(3, 6), *range(8, 13)):
        marks += [f"oaks,P1,2025-09-{day:02d},AM,/", f"oaks,P1,2025-09-{day:02d},PM,\\"]
    (tmp_path / "marks.csv").write_text("\n".join(marks) + "\n", encoding="utf-8")
    (tmp_path / "actions.csv").write_text(actions, encoding="utf-8")
    result = CliRunner().invoke(main, [
        "backtest", "--flow", str(ROOT / "flows/leigh-academy-oaks.yaml"),
        "--calendar", str(ROOT / "config/calendars/england-2025-26.yaml"),
        "--marks", str(tmp_path / "marks.csv"), "--actions", str(tmp_path / "actions.csv"),
        "--to", "2025-09-12", "--json", str(tmp_path / "out.json"),
    ])
    return result.exit_code, result.stderr


def test_bad_timestamps_in_the_actions_file_are_all_named_with_their_lines(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, (
        "at,school,pupil,action,outcome,by\n"
        "2025-09-10T10:00+01:00,oaks,P1,attendance_meeting,held,s1\n"
        "last tuesday,oaks,P1,attendance_meeting,held,s1\n"
        "2025-09-11T10:00,oaks,P1,attendance_meeting,held,s1\n"
    ))
    assert code == 2
    actions = tmp_path / "actions.csv"
    assert f"{actions}:3: at: 'last tuesday' is not ISO 8601" in err
    assert f"{actions}:4: at: '2025-09-11T10:00' has no UTC offset" in err
    assert not (tmp_path / "out.json").exists()


def test_an_action_naming_a_task_that_is_not_open_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, (
        "at,school,pupil,action,outcome,by\n"
        "2025-09-10T10:00+01:00,oaks,P1,attendance_meeting,held,s1\n"
    ))
    assert code == 2
    assert f"{tmp_path / 'actions.csv'}:2: action: pupil P1: attendance_meeting: " in err
    assert "no such task is open" in err
