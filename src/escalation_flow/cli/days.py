"""``escalation-flow run-day``: evaluate a school day by hand (backfills), idempotently."""

from __future__ import annotations

from datetime import datetime

import click

from escalation_flow.cli import main, root
from escalation_flow.errors import InputError


@main.command("run-day")
@click.option(
    "--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="The school day."
)
@click.option(
    "--school", default=None, help="One school (id or URN); default: every school in the trust."
)
@click.option(
    "--force",
    is_flag=True,
    help="Evaluate the school's latest evaluated day again (an earlier day is never re-run).",
)
def run_day(day: datetime, school: str | None, force: bool) -> None:
    """Run a school day's evaluation: timers due by then, then every pupil screened.

    A day already evaluated is left alone (nothing is written twice) unless --force; a day
    before the school's latest evaluated day is never run (its cases carry the later days).
    Letters prepared for new letter tasks get their PDFs before the command ends.
    """

    on = day.date()
    with root().service() as service:
        schools = [school] if school else service.schools()
        calendars = [service.setup(key).calendar for key in schools]
        if not any(c.school_days[0] <= on <= c.school_days[-1] for c in calendars):
            raise InputError(f"--date {on} is outside every school's calendar")
        for key in schools:
            calendar = service.setup(key).calendar
            if school is None and not calendar.is_school_day(on):
                # schools keep their own calendars: the rest of the trust still runs
                click.echo(f"{key}: {on} is not a school day in calendar {calendar.name}; skipped")
                continue
            click.echo(service.run_day(key, on, force=force).line())
        rendered = service.render_letters()
    if rendered:
        click.echo(f"{rendered} letter PDFs rendered (every prepared letter that had none yet)")
