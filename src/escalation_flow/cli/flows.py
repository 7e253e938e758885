"""``escalation-flow flows ...``: check, outline, draw flow files, and list the fact names."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from escalation_flow.cli import main
from escalation_flow.core.definition import Flow
from escalation_flow.errors import FlowError, Problem

DEFAULT_GLOB = "flows/*.yaml"


@main.group()
def flows() -> None:
    """Flow files: one school's escalation plan each (see docs/flow-format.md)."""


@flows.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Check flow files (default: flows/*.yaml); print OK and the version of each good one.

    Every problem of every file is printed, each with its file, line and field; the exit
    status is 2 if there is any. A rule the flow departs from is printed under its OK line as
    "stated exception: <rule> (why: ...)". The letters a flow sends are checked against their
    templates (each exists; what one states of the case's past holds on every path to it).
    """
    from escalation_flow.adapters.flow_files import load_flow
    from escalation_flow.core.plan_rules import plan_rule_problems

    paths = list(files) or sorted(Path().glob(DEFAULT_GLOB))
    if not paths:
        raise FlowError(f"no flow files given and none match {DEFAULT_GLOB}")
    problems: list[Problem] = []
    for path in paths:
        try:
            flow = load_flow(path)
        except FlowError as exc:
            problems.extend(exc.problems or [Problem(str(path), None, None, exc.summary)])
            continue
        letters = _letter_problems(path, flow)
        if letters:
            problems.extend(letters)
            continue
        click.echo(f"OK {path} {flow.version}")
        for stated in plan_rule_problems(flow.definition)[1]:
            click.echo(f"  {stated}")
    if problems:
        raise FlowError(f"{len(problems)} problem(s) in flow files", problems)


def _letter_problems(path: Path, flow: Flow) -> list[Problem]:
    """Rule 6 on the flow's letters, with the line of each task in the file."""
    from escalation_flow.adapters.flow_files import locate, plan_path
    from escalation_flow.adapters.yaml_source import read_yaml
    from escalation_flow.core.plan_rules import letter_truth_problems
    from escalation_flow.letters.catalogue import letter_claims

    named = {
        t.template
        for stage in flow.definition.stages
        for state in stage.states.values()
        for t in state.tasks
        if t.template is not None
    } | {t.template for side in flow.definition.side for t in side.tasks if t.template}
    found = letter_truth_problems(flow.definition, letter_claims(flow.id, named))
    if not found:
        return []
    data = read_yaml(path, FlowError).data
    return [
        Problem(str(path), locate(data, loc), plan_path(data, loc), message)
        for loc, message in found
    ]


@flows.command("show")
@click.argument("file", type=click.Path(path_type=Path))
def show(file: Path) -> None:
    """Print a readable outline of a flow: stages, entry criteria, states, tasks, timers."""
    from escalation_flow.adapters.flow_files import load_flow
    from escalation_flow.cli.flow_outline import outline

    click.echo(outline(load_flow(file)), nl=False)


@flows.command("graph")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "svg", "png", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid text, Graphviz source, or a picture drawn by Graphviz.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write here (default: stdout).")
def graph(file: Path, fmt: str, out: Path | None) -> None:
    """Draw a flow: stages as clusters, states with their tasks and timers, labelled moves."""
    from escalation_flow.adapters.flow_files import load_flow
    from escalation_flow.adapters.flow_graph import render

    data = render(load_flow(file), fmt)
    if out is None:
        if fmt == "png" and sys.stdout.isatty():
            raise click.UsageError("a PNG needs --out PATH (or a pipe)")
        sys.stdout.buffer.write(data)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    click.echo(f"wrote {out}")


@flows.command("facts")
def facts() -> None:
    """Print the fact names guards may use, as a Markdown table."""
    from escalation_flow.cli.flow_outline import fact_table

    click.echo(fact_table(), nl=False)
