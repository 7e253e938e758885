"""Every worked example of ``docs/flow-format.md``'s "Cookbook: shapes" is a fixture
(``tests/data/cookbook/shape_*.yaml``): each passes ``flows check`` and runs through
``backtest`` on a term of generated registers, and the cookbook names each one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.cli import main

ROOT = Path(__file__).resolve().parents[2]
COOKBOOK = ROOT / "tests" / "data" / "cookbook"
SHAPES = sorted(COOKBOOK.glob("shape_*.yaml"))
CALENDAR = ROOT / "config" / "calendars" / "england-2025-26.yaml"
#: pupil -> (weekday absent, code): a day off a week from 15 September, in every day after
#: half term, so cases open, move, review and (for some) step down
PATTERNS = {"P1": (0, "I"), "P2": (0, "O"), "P3": (1, "G"), "P4": (None, "/")}


def write_marks(folder: Path) -> Path:
    calendar = load_calendar([CALENDAR])
    rows = ["school,pupil,date,session,code,minutes_late,recorded_at"]
    for pupil, (weekday, code) in PATTERNS.items():
        for day in calendar.school_days:
            if day.isoformat() > "2025-12-19":
                break
            away = weekday is not None and day.weekday() == weekday
            away = away and "2025-09-15" <= day.isoformat() <= "2025-10-24"
            am, pm = (code, code) if away else ("/", "\\")
            rows.append(f"oaks,{pupil},{day},AM,{am},,{day}T09:05:00+01:00")
            rows.append(f"oaks,{pupil},{day},PM,{pm},,{day}T13:10:00+01:00")
    path = folder / "marks.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_actions(folder: Path) -> Path:
    path = folder / "actions.csv"
    path.write_text(
        "at,school,pupil,action,by,outcome\n"
        "2025-10-06T16:00:00+01:00,oaks,P3,holiday_after_refused_leave,s1,\n",
        encoding="utf-8",
    )
    return path


def test_the_cookbook_has_shapes() -> None:
    assert len(SHAPES) >= 4


@pytest.mark.parametrize("shape", SHAPES, ids=[p.stem for p in SHAPES])
def test_each_shape_is_checked_and_backtested(shape: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    checked = runner.invoke(main, ["flows", "check", str(shape)])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith(f"OK {shape}")
    out = tmp_path / "timeline.json"
    args = [
        "backtest", "--flow", str(shape), "--calendar", str(CALENDAR),
        "--marks", str(write_marks(tmp_path)),
        "--to", "2025-12-19", "--auto-complete-actions", "--json", str(out),
    ]  # fmt: skip
    if shape.name == "shape_side_path.yaml":  # the event its side path runs on
        args += ["--actions", str(write_actions(tmp_path))]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    stages = [e for c in document["cases"] for e in c["events"] if e["type"] == "stage_entered"]
    assert stages, "every shape opens a case on these registers"
    if "duties:" in shape.read_text():  # one task per school and role, listing its cases
        duties = document["duties"]
        assert duties and all(d["covers"] and d["school"] == "oaks" for d in duties)
        assert len({(d["task"], d["date"]) for d in duties}) == len(duties)


def test_the_cookbook_shows_every_shape_file() -> None:
    text = (ROOT / "docs" / "flow-format.md").read_text(encoding="utf-8")
    section = text.split("## Cookbook: shapes", 1)[1].split("\n## Cookbook: counting", 1)[0]
    for shape in SHAPES:
        assert f"tests/data/cookbook/{shape.name}" in section, shape.name
