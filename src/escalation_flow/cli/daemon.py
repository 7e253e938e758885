"""``escalation-flow daemon``: fire review timers and each school's evening evaluation, take in
the inbox; ``--once`` for cron and tests; ``--clock simulated`` to watch a term go by."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from escalation_flow.cli import main, root

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable

    from escalation_flow.cli.daemon_lines import DayLines
    from escalation_flow.daemon.runner import Daemon, DaemonOptions
    from escalation_flow.settings import Settings

_DATE = click.DateTime(["%Y-%m-%d"])


@main.command("daemon")
@click.option(
    "--once", is_flag=True, help="Do what is due (inbox, missed days, timers), then exit."
)
@click.option(
    "--clock",
    "clock_kind",
    type=click.Choice(["system", "simulated"]),
    default="system",
    show_default=True,
    help="simulated: move time from event to event through --from..--to (a demo, a rehearsal).",
)
@click.option("--from", "start", type=_DATE, default=None, help="Simulated: the first day.")
@click.option("--to", "end", type=_DATE, default=None, help="Simulated: the last day.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=8.0,
    show_default=True,
    help="Simulated: school days per second (0: as fast as it goes).",
)
@click.option(
    "--catch-up-days",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="On start, evaluate at most this many missed school days per school.",
)
@click.option(
    "--inbox-poll",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between looks at the inbox folder (settings: inbox_dir).",
)
@click.option(
    "--sweep",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between full re-reads of the timers table.",
)
@click.option(
    "--auto-complete-actions",
    is_flag=True,
    help="Simulated: every task is done on its due date with its default outcome (by 'auto'), "
    "as in the backtest, so cases move on and review timers come due.",
)
@click.option("--no-inbox", is_flag=True, help="Do not read the inbox folder.")
@click.option("--worker", default=None, help="This daemon's name in what it writes.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics (the address: "
    "ESCALATION_FLOW_METRICS_ADDRESS). Also ESCALATION_FLOW_METRICS_PORT.",
)
@click.option(
    "--verbose",
    is_flag=True,
    help="On a terminal: the full structured log (an event per case, task and letter) instead "
    "of one line per school day. Off a terminal the log is always in full (JSON).",
)
def daemon(
    once: bool,
    clock_kind: str,
    start: datetime | None,
    end: datetime | None,
    speed: float,
    catch_up_days: int,
    inbox_poll: float,
    sweep: float,
    auto_complete_actions: bool,
    no_inbox: bool,
    worker: str | None,
    metrics_port: int | None,
    verbose: bool,
) -> None:
    """Run the service: review timers fired at their time (each exactly once, however the
    daemon stops), each school's day evaluated after its registers close, MIS exports taken
    from the inbox. On start it catches up on what came due while it was down.

    On a terminal it prints one line per school day (cases opened and moved on, tasks, letters,
    timers fired); --verbose shows the full log. SIGTERM or Ctrl-C finishes the case in hand and
    stops; a second one stops at once.
    """
    from escalation_flow.daemon import DaemonOptions, run_daemon
    from escalation_flow.settings import load_settings

    settings = load_settings()
    lines = _day_lines(settings, verbose)
    options = DaemonOptions(
        once=once,
        catch_up_days=catch_up_days,
        inbox_seconds=inbox_poll,
        sweep_seconds=sweep,
        inbox=not no_inbox and clock_kind == "system",
        worker=worker,
    )
    if clock_kind == "simulated":
        if once:
            raise click.UsageError("--once runs on the system clock; drop --clock simulated")
        _simulate(settings, options, start, end, speed, auto_complete_actions, lines)
        return
    if start or end or auto_complete_actions:
        raise click.UsageError("--from, --to and --auto-complete-actions go with --clock simulated")
    run = root()
    if lines is not None:
        zone = ZoneInfo(run.trust(settings).timezone)
        lines.today = lambda: run.clock.now().astimezone(zone).date()
    daemon = run.daemon(settings, options)
    stop_metrics = _serve_metrics(daemon, settings, metrics_port or settings.metrics_port)
    try:
        run_daemon(daemon)
    finally:
        stop_metrics()
        if lines is not None:
            lines.finish()
            click.echo(f"daemon stopped: {lines.summary()}")


def _serve_metrics(daemon: Daemon, settings: Settings, port: int | None) -> Callable[[], None]:
    """The daemon's metrics on ``port`` (none: nothing served, nothing counted); the function
    returned stops serving them."""
    if port is None:
        return lambda: None
    from escalation_flow.metrics import Metrics
    from escalation_flow.readiness import store_snapshot

    metrics = Metrics()
    daemon.observer = metrics
    metrics.watch(lambda: store_snapshot(daemon.service))  # unreadable until the daemon opened
    return metrics.serve(settings.metrics_address, port)


def _day_lines(settings: Settings, verbose: bool) -> DayLines | None:
    """The day lines, installed in the log's chain, when on a terminal and not --verbose."""
    import logging

    from escalation_flow.cli import daemon_lines

    if not daemon_lines.shows_lines(settings.log_format, verbose, daemon_lines.on_terminal()):
        return None
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    lines = daemon_lines.DayLines(click.echo, min_level=level)
    daemon_lines.install(lines)
    return lines


def _simulate(
    settings: Settings,
    options: DaemonOptions,
    start: datetime | None,
    end: datetime | None,
    speed: float,
    auto_complete: bool,
    lines: DayLines | None = None,
) -> None:
    import time as wall
    from dataclasses import replace

    from escalation_flow.bootstrap import Root
    from escalation_flow.clock import SimulatedClock
    from escalation_flow.daemon.runner import stop_signals
    from escalation_flow.daemon.simulated import simulate, use_clock_in_logs

    if end is None:
        raise click.UsageError("--clock simulated needs --to (and --from, or it resumes)")
    clock = SimulatedClock(datetime(2000, 1, 1, tzinfo=UTC))
    stamp = use_clock_in_logs(clock)
    daemon = Root(clock).daemon(settings, replace(options, simulated=True))
    began = wall.monotonic()
    with stop_signals(daemon):
        daemon.open()
        daemon.worker.auto_complete = auto_complete
        try:
            zone = ZoneInfo(daemon.service.trust.timezone)
            first = start.date() if start else _resume_day(daemon)
            clock.set(datetime.combine(first, time(0), tzinfo=zone))
            stamp.zone = zone
            if lines is not None:
                lines.schools = len(daemon.worker.schools)
                lines.today = lambda: clock.now().astimezone(zone).date()
            done = simulate(daemon, clock, first, end.date(), speed)
        finally:
            daemon.close()
            if lines is not None:
                lines.finish()
    seconds = wall.monotonic() - began
    daemon.log.info(
        "daemon.stopped",
        simulated=f"{done.start}..{done.end}",
        school_days=done.school_days,
        evaluations=done.evaluations,
        skipped=done.skipped,
        cases_opened=done.cases_opened,
        stage_changes=done.stage_changes,
        tasks_created=done.tasks_created,
        letters_prepared=done.letters_prepared,
        timers_fired=done.timers_fired,
        timers_caused=dict(sorted(done.by_timers.items())),
        stopped_early=done.stopped_early,
        seconds=round(seconds, 1),
    )
    click.echo(
        f"simulated {done.start} to {done.end}: {done.school_days} school days, "
        f"{done.evaluations} school-day evaluations ({done.skipped} done before), "
        f"{done.cases_opened} cases opened, {done.stage_changes} stage changes, "
        f"{done.timers_fired} review timers fired, {done.tasks_created} tasks created, "
        f"{done.letters_prepared} letters prepared, in {seconds:.0f} s"
        + _caused(done.by_timers)
        + (" (stopped early: run the same command to resume)" if done.stopped_early else "")
    )


def _caused(by_timers: Counter[str]) -> str:
    """``; of these, review timers caused 3 stage changes, 5 tasks, 2 letters``."""
    words = {
        "stage_changes": ("stage change", "stage changes"),
        "cases_closed": ("case closed", "cases closed"),
        "tasks_created": ("task", "tasks"),
        "letters_prepared": ("letter", "letters"),
    }
    parts = [
        f"{by_timers[k]} {one if by_timers[k] == 1 else many}"
        for k, (one, many) in words.items()
        if by_timers[k]
    ]
    return f"; of these, review timers caused {', '.join(parts)}" if parts else ""


def _resume_day(daemon: Daemon) -> date:
    """The day after the earliest school's last evaluated day, or the calendars' first day."""
    service = daemon.service
    last = service.last_evaluated_days()
    firsts = []
    for school in service.schools():
        calendar = service.setup(school).calendar
        done = last.get(school)
        firsts.append(done + timedelta(days=1) if done else calendar.first_day)
    return min(firsts)
