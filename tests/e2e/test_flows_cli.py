"""``escalation-flow flows ...`` as a user runs it: check, show, graph, facts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.cli import main

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_passes_every_bundled_flow_and_prints_its_version(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(main, ["flows", "check"])
    assert result.exit_code == 0, result.output
    # a flow's departures are printed under its OK line: "  stated exception: <rule> (why: ...)"
    stated = "  stated exception: "
    assert f"{stated}no_gap_between_bands (why: The plan opens a case" in result.output
    # plan 002 keeps rule 4 with daily side actions now: no stated exception for it
    assert f"{stated}threshold_acted_on" not in result.output
    lines = [line for line in result.output.splitlines() if not line.startswith(stated)]
    assert len(lines) == len(list((REPO / "flows").glob("*.yaml"))) == 5
    for line in lines:
        assert re.fullmatch(r"OK flows/[a-z0-9-]+\.yaml [0-9a-f]{64}", line), line


def test_a_typo_in_a_fact_name_is_refused_with_its_line(runner: CliRunner) -> None:
    broken = DATA / "flows_broken" / "typo-in-fact.yaml"
    result = runner.invoke(
        main, ["flows", "check", str(broken), str(DATA / "flows" / "tiny-example.yaml")]
    )
    assert result.exit_code == 2
    assert (
        f"{broken}:33: stages[number=1].entry.any[0].when: unknown name 'attendence_pct'" in result.output
    )
    assert "did you mean 'attendance_pct'?" in result.output
    assert "OK " in result.output  # the good file is still checked and reported


def test_graph_writes_mermaid(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "flow.mmd"
    flow = REPO / "flows" / "academy-staged-intervention.yaml"
    result = runner.invoke(
        main, ["flows", "graph", str(flow), "--format", "mermaid", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.splitlines()[3] == "flowchart TD"
    assert 'subgraph stage_1["Stage 1 (appendix B)"]' in text
    assert 'stage_1__letter_3_check -->|"check 15 days: otherwise"| stage_2__panel_meeting' in text


@pytest.mark.needs_program("dot")
def test_graph_draws_a_png_with_graphviz(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "flow.png"
    flow = DATA / "flows" / "tiny-example.yaml"
    result = runner.invoke(
        main, ["flows", "graph", str(flow), "--format", "png", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_prints_an_outline(runner: CliRunner) -> None:
    result = runner.invoke(main, ["flows", "show", str(DATA / "flows" / "tiny-example.yaml")])
    assert result.exit_code == 0, result.output
    assert "stage 1: Concern" in result.output
    assert "    timer review: after 4 school weeks at 08:00" in result.output
    assert "    on review when improved -> monitoring" in result.output


def test_the_docs_fact_table_is_the_generated_one(runner: CliRunner) -> None:
    result = runner.invoke(main, ["flows", "facts"])
    assert result.exit_code == 0
    assert result.output in (REPO / "docs" / "flow-format.md").read_text()


def test_the_docs_worked_example_is_the_tested_tiny_flow() -> None:
    doc = (REPO / "docs" / "flow-format.md").read_text()
    example = (DATA / "flows" / "tiny-example.yaml").read_text()
    assert f"```yaml\n{example}```" in doc


def test_committed_diagrams_are_up_to_date(runner: CliRunner) -> None:
    for flow in sorted((REPO / "flows").glob("*.yaml")):
        result = runner.invoke(main, ["flows", "graph", str(flow), "--format", "mermaid"])
        committed = REPO / "docs" / "flows" / f"{flow.stem}.mmd"
        assert committed.read_text() == result.output, f"regenerate {committed}"
