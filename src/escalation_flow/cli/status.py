"""``escalation-flow status``: timers, evaluations, imports and overdue work; a health check."""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.today import today_option
from escalation_flow.service.views import StatusReport


@main.command("status")
@today_option("status")
def status() -> None:
    """Show pending and overdue timers, the last evaluation and import per school, and overdue
    tasks by role. Exit status 1 when a timer is overdue by more than the settings' margin."""
    from escalation_flow.settings import load_settings

    settings = load_settings()
    with root().service(settings) as service:
        report = service.status()
    margin = timedelta(minutes=settings.overdue_margin_minutes)
    click.echo(status_text(report, margin))
    if report.timers_late_by_more_than(margin):
        sys.exit(1)


def status_text(report: StatusReport, margin: timedelta) -> str:
    late = report.timers_late_by_more_than(margin)
    lines = [
        f"now {report.now:%Y-%m-%d %H:%M} UTC",
        f"timers: {report.pending_timers} pending, {len(report.overdue_timers)} overdue, {len(late)} overdue by more than {int(margin.total_seconds() // 60)} minutes",
    ]
    for timer in report.overdue_timers[:20]:
        ago = _ago(report.now - timer.fire_at)
        lines.append(
            f"  timer {timer.id}: {timer.school} {timer.pupil} {timer.timer} was due {timer.fire_at:%Y-%m-%d %H:%M} UTC ({ago} ago)"
        )
    if len(report.overdue_timers) > 20:
        lines.append(f"  ... and {len(report.overdue_timers) - 20} more")
    lines.append("schools:")
    for s in report.schools:
        evaluated = (
            f"{s.last_day} (at {s.evaluated_at:%Y-%m-%d %H:%M} UTC)"
            if s.last_day and s.evaluated_at
            else "never"
        )
        imported = (
            f"{s.last_import_at:%Y-%m-%d %H:%M} UTC (marks to {s.last_mark_day})"
            if s.last_import_at
            else "never"
        )
        lines.append(f"  {s.school}: last evaluated {evaluated}; last import {imported}")
        for version, n in s.earlier_versions:
            lines.append(
                f"    {n} open case{'s' if n != 1 else ''} still on flow version "
                f"{version[:12]}, not the school's current one (they stay on it until moved: "
                "escalation-flow case migrate)"
            )
    lines.append(
        f"open tasks: {report.open_tasks}; overdue by role:"
        + ("" if report.overdue_tasks_by_role else " none")
    )
    for role, n in report.overdue_tasks_by_role.items():
        lines.append(f"  {role}: {n}")
    for task, n in report.lapsed_tasks.items():
        lines.append(f"lapsed, not done in time: {task} {n}")
    return "\n".join(lines)


def _ago(late: timedelta) -> str:
    """How long ago, in the two largest units a person reads at a glance."""
    minutes = int(late.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    shown = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n][:2]
    return " ".join(shown) or "less than a minute"
