"""``escalation-flow run-day``: evaluate a school day by hand (backfills), idempotently."""

from __future__ import annotations

from datetime import date, datetime

import click

from escalation_flow.cli import main, root
from escalation_flow.errors import InputError
from escalation_flow.service import Service


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
@click.option(
    "--catch-up",
    "catch_up",
    is_flag=True,
    help="Evaluate, in order, the school days missed since the school's latest evaluated day "
    "before --date (without it, a gap is refused: those days could never be evaluated later).",
)
def run_day(day: datetime, school: str | None, force: bool, catch_up: bool) -> None:
    """Run a school day's evaluation: timers due by then, then every pupil screened.

    A day already evaluated is left alone (nothing is written twice) unless --force; a day
    before the school's latest evaluated day is never run (its cases carry the later days), so a
    day after a gap is refused, naming the first day missed, unless --catch-up evaluates the
    missed days first. Letters prepared for new letter tasks get their PDFs before the command
    ends.
    """

    on = day.date()
    with root().service() as service:
        schools = [school] if school else service.schools()
        calendars = [service.setup(key).calendar for key in schools]
        if not any(c.school_days[0] <= on <= c.school_days[-1] for c in calendars):
            raise InputError(f"--date {on} is outside every school's calendar")
        missed = _missed(service, schools, on)
        if missed and not catch_up:
            key, days = next(iter(missed.items()))
            since = (
                f"between its latest evaluated day and {on}"
                if key in service.last_evaluated_days()
                else f"from its first day with marks (or its calendar's first) to {on}; none evaluated yet"
            )
            raise InputError(
                f"{key}: school day {days[0]} was never evaluated ({len(days)} school day(s) "
                f"{since}); running {on} first would leave them never evaluated: run them in "
                "order, or give --catch-up"
            )
        # day by day across the schools, as the daemon catches up: a caught-up evening reads
        # every school's evening before it (the facts across a family)
        for earlier in sorted({d for days in missed.values() for d in days}):
            for key in schools:
                if earlier in missed.get(key, []):
                    click.echo(service.run_day(key, earlier).line() + " (caught up)")
        for key in schools:
            calendar = service.setup(key).calendar
            if school is None and not calendar.is_school_day(on):
                # schools keep their own calendars: the rest of the trust still runs
                click.echo(f"{key}: {on} is not a school day in calendar {calendar.name}; skipped")
                continue
            click.echo(service.run_day(key, on, force=force).line())
        # after every commit: a crash from here leaves letters to render, never a day half-run
        rendered = service.render_letters(workers=root().settings().letter_workers)
    if rendered:
        click.echo(f"{rendered} letter PDFs rendered (every prepared letter that had none yet)")


def _missed(service: Service, schools: list[str], on: date) -> dict[str, list[date]]:
    """Per school, the school days after its latest evaluated day and before ``on``; for a school
    never evaluated, from its first school day with marks (or its calendar's first day) on:
    once ``on`` is evaluated, those days could never be."""
    latest = service.last_evaluated_days()
    out: dict[str, list[date]] = {}
    for key in schools:
        calendar = service.setup(key).calendar
        last = latest.get(key)
        if last is None:
            first = _first_day(service, key) or calendar.school_days[0]
            days = [d for d in calendar.school_days if first <= d < on]
        elif last >= on:
            continue
        else:
            days = [d for d in calendar.school_days if last < d < on]
        if days:
            out[key] = days
    return out


def _first_day(service: Service, school: str) -> date | None:
    """The school's first day with register marks, where the store keeps them."""
    from escalation_flow.adapters.store import Store

    store = service.store
    return store.first_marked_day(school) if isinstance(store, Store) else None
