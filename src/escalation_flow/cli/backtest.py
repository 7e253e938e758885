"""``escalation-flow backtest``: run a plan over past registers, as the daemon would have."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from escalation_flow.cli import main
from escalation_flow.errors import InputError


@main.command()
@click.option(
    "--flow",
    "flow_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The flow file (every school in the marks file runs it).",
)
@click.option(
    "--calendar",
    "calendar_paths",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The school calendar; repeat for consecutive academic years.",
)
@click.option(
    "--trust",
    "trust_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Instead of --flow/--calendar: a trust file giving each school its own.",
)
@click.option(
    "--marks",
    "marks_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Register marks CSV.",
)
@click.option(
    "--roster",
    "roster_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Optional roster CSV (admission and leaving dates, dates of birth).",
)
@click.option(
    "--actions",
    "actions_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Staff actions CSV.",
)
@click.option(
    "--contacts",
    "contacts_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Contacts CSV (docs/contacts.md): gives the flows their family facts and the "
    "statutory social-worker task; schools then run day by day together.",
)
@click.option(
    "--auto-complete-actions",
    is_flag=True,
    help="Treat every task as done on its due date with its default outcome.",
)
@click.option(
    "--from",
    "first",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First school day to run (default: the calendar's first day).",
)
@click.option(
    "--to", "last", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day to run."
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the timeline JSON here (default: standard output).",
)
@click.option(
    "--summary",
    is_flag=True,
    help="Print the weekly workload table (stage entries, tasks by role) and draw it.",
)
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("backtest-summary.png"),
    show_default=True,
    help="Where --summary draws its chart (PNG).",
)
def backtest(
    flow_path: Path | None,
    calendar_paths: Sequence[Path],
    trust_path: Path | None,
    marks_paths: Sequence[Path],
    roster_path: Path | None,
    actions_path: Path | None,
    contacts_path: Path | None,
    auto_complete_actions: bool,
    first: Any,
    last: Any,
    json_out: Path | None,
    summary: bool,
    chart_path: Path,
) -> None:
    """Run a flow over the marks as if the daemon had run every school day from --from to --to.

    Marks count from their recorded_at (a mark without one: the end of its own day). Exit 0 on
    success, 2 on bad input with a message naming the file, line and field.
    """
    from escalation_flow import backtest as bt
    from escalation_flow import backtest_summary

    if trust_path is not None and (flow_path or calendar_paths):
        raise InputError("give either --trust, or --flow with --calendar, not both")
    if trust_path is None and (flow_path is None or not calendar_paths):
        raise InputError("give --flow and --calendar (or --trust)")
    sources = bt.Sources(
        marks=tuple(marks_paths),
        flow=flow_path,
        calendars=tuple(calendar_paths),
        trust=trust_path,
        roster=roster_path,
        actions=actions_path,
    )
    runs, header = bt.prepare(sources)
    period = bt.Period(first.date() if first else None, last.date())
    if contacts_path is None:
        books = bt.run_schools(runs, period, auto_complete=auto_complete_actions)
    else:
        contacts = bt.read_backtest_contacts(contacts_path, runs)
        books = bt.run_with_family(runs, period, contacts, auto_complete=auto_complete_actions)
    text = bt.dumps(bt.timeline_json(books, header=header))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text, encoding="utf-8")
    elif not summary:
        sys.stdout.write(text)
    if summary:
        start = period.first or (books[0].first_day if books else period.last)
        w = backtest_summary.workload(books, start, period.last)
        click.echo(backtest_summary.table(w), nl=False)
        title = f"Workload implied by {header.get('flow') or header.get('trust')}"
        drawn = backtest_summary.chart(w, chart_path, title)
        click.echo(f"chart written to {drawn}")
