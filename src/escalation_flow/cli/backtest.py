"""``escalation-flow backtest``: run a plan over past registers, as the daemon would have."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any

import click

from escalation_flow.cli import main
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.definition import Flow
from escalation_flow.core.school_day import SchoolBook
from escalation_flow.errors import InputError


@dataclass(frozen=True)
class _School:
    flow: Flow
    calendar: SchoolCalendar
    parameters: Mapping[str, Any]
    registers_close: time


@main.command()
@click.option("--flow", "flow_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The flow file (every school in the marks file runs it).")
@click.option("--calendar", "calendar_paths", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The school calendar; repeat for consecutive academic years.")
@click.option("--trust", "trust_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Instead of --flow/--calendar: a trust file giving each school its own.")
@click.option("--marks", "marks_paths", multiple=True, required=True,
              type=click.Path(path_type=Path, dir_okay=False), help="Register marks CSV.")
@click.option("--roster", "roster_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Optional roster CSV (admission and leaving dates, dates of birth).")
@click.option("--actions", "actions_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Staff actions CSV.")
@click.option("--auto-complete-actions", is_flag=True,
              help="Treat every task as done on its due date with its default outcome.")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]),
              help="First school day to run (default: the calendar's first day).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="Last day to run.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the timeline JSON here (default: standard output).")
@click.option("--summary", is_flag=True,
              help="Print the weekly workload table (stage entries, tasks by role) and draw it.")
@click.option("--chart", "chart_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("backtest-summary.png"), show_default=True,
              help="Where --summary draws its chart (PNG).")
def backtest(
    flow_path: Path | None,
    calendar_paths: Sequence[Path],
    trust_path: Path | None,
    marks_paths: Sequence[Path],
    roster_path: Path | None,
    actions_path: Path | None,
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
    from escalation_flow.adapters.action_files import read_actions

    schools, header = _schools(flow_path, calendar_paths, trust_path)
    tables = _marks(marks_paths, {k: s.calendar for k, s in schools.items()}, trust_path is None)
    rosters = _rosters(roster_path, set(tables))
    actions = read_actions(actions_path, set(tables)) if actions_path else {}
    unknown = sorted(set(actions) - set(tables))
    if unknown:
        raise InputError(f"the actions file names schools with no marks: {', '.join(unknown)}")
    period = bt.Period(first.date() if first else None, last.date())
    books: list[SchoolBook] = []
    for school in sorted(tables):
        s = schools[school] if trust_path else schools["*"]
        run = bt.SchoolRun(
            school=school, flow=s.flow, calendar=s.calendar, marks=tables[school],
            roster=rosters.get(school), actions=actions.get(school, ()),
            parameters=s.parameters, registers_close=s.registers_close,
        )
        books.append(bt.run_school(run, period, auto_complete=auto_complete_actions))
    text = bt.dumps(bt.timeline_json(books, header=header))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text, encoding="utf-8")
    elif not summary:
        sys.stdout.write(text)
    if summary:
        cal = books[0].ctx.calendar if books else None
        start = period.first or (cal.first_day if cal else period.last)
        w = backtest_summary.workload(books, start, period.last)
        click.echo(backtest_summary.table(w), nl=False)
        title = f"Workload implied by {header.get('flow') or header.get('trust')}"
        drawn = backtest_summary.chart(w, chart_path, title)
        click.echo(f"chart written to {drawn}")


def _schools(
    flow_path: Path | None, calendar_paths: Sequence[Path], trust_path: Path | None
) -> tuple[dict[str, _School], dict[str, Any]]:
    from escalation_flow.adapters.calendar_files import load_calendar
    from escalation_flow.adapters.flow_files import load_flow

    if trust_path is not None:
        if flow_path or calendar_paths:
            raise InputError("give either --trust, or --flow with --calendar, not both")
        return _trust_schools(trust_path)
    if flow_path is None or not calendar_paths:
        raise InputError("give --flow and --calendar (or --trust)")
    flow = load_flow(flow_path)
    calendar = load_calendar(list(calendar_paths))
    header = {"flow": flow.id, "flow_version": flow.version}
    return {"*": _School(flow, calendar, {}, time(16, 30))}, header


def _trust_schools(path: Path) -> tuple[dict[str, _School], dict[str, Any]]:
    from escalation_flow.adapters.flow_files import load_flow
    from escalation_flow.adapters.trust_files import load_trust

    trust = load_trust(path)
    schools: dict[str, _School] = {}
    flows: dict[str, str] = {}
    for sid, cfg in sorted(trust.schools.items()):
        flow = load_flow(cfg.flow_path)
        flows[flow.id] = flow.version
        close = time.fromisoformat(cfg.registers_close_at) if cfg.registers_close_at else time(16, 30)
        schools[sid] = _School(flow, trust.calendar(sid), dict(cfg.overrides), close)
    return schools, {"trust": trust.name, "flows": dict(sorted(flows.items()))}


class _EveryKey(Mapping[str, SchoolCalendar]):
    """One calendar for whatever school the marks file names (the single-flow form)."""

    def __init__(self, calendar: SchoolCalendar) -> None:
        self._calendar = calendar

    def __getitem__(self, key: str) -> SchoolCalendar:
        return self._calendar

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _marks(
    paths: Sequence[Path], calendars: Mapping[str, SchoolCalendar], any_school: bool
) -> dict[str, Any]:
    from escalation_flow.adapters.register_files import read_marks

    lookup: Mapping[str, SchoolCalendar] = _EveryKey(calendars["*"]) if any_school else calendars
    tables: dict[str, Any] = {}
    for path in paths:
        result = read_marks(path, lookup)
        for school, table in result.tables.items():
            if school in tables:
                raise InputError(f"{path}: school {school!r} also appears in an earlier marks file")
            tables[school] = table
    return tables


def _rosters(path: Path | None, schools: set[str]) -> dict[str, Any]:
    if path is None:
        return {}
    from escalation_flow.adapters.register_files import read_roster

    return dict(read_roster(path, schools))


