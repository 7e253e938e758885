"""``--today DATE``: one option for every command that reads today's date, so a past year's data
(the demo's autumn term) reads as it did on one of its days.

The option puts a clock moved to that date (the time of day runs on, as ``serve --today`` always
did) into the command's ``Root``; the command then reads the date as it always does, from
``root().clock``. Commands that *record* something (imports, completions, approvals) do not take
it: their instants go into sealed histories and must be the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

import click

from escalation_flow.clock import ShiftedClock

F = TypeVar("F", bound=Callable[..., object])

#: Where the trust file cannot be read, the date is moved in England's zone (the command itself
#: then reports the trust file's problem).
_FALLBACK_ZONE = "Europe/London"

#: The help every command shows for it: one wording, so a reader learns it once.
HELP = (
    "Run as if today were this date (YYYY-MM-DD), the time of day running on: e.g. the demo's "
    "last day, 2025-12-19. Default: the clock's date."
)

#: Names of the commands given the option (``tasks``, ``case show``, ...): the test that each
#: accepts it reads this.
TODAY_COMMANDS: list[str] = []


def today_option(name: str) -> Callable[[F], F]:
    """Decorate command ``name`` (as typed: ``"case show"``) with ``--today``."""

    def decorate(command: F) -> F:
        TODAY_COMMANDS.append(name)
        return click.option(
            "--today",
            type=click.DateTime(["%Y-%m-%d"]),
            default=None,
            expose_value=False,
            callback=_use_today,
            help=HELP,
        )(command)

    return decorate


def _use_today(ctx: click.Context, _param: click.Parameter, value: datetime | None) -> None:
    if value is None:
        return
    from escalation_flow.cli import root

    run = root()
    ctx.find_root().obj = replace(run, clock=ShiftedClock(run.clock, value.date(), _zone(run)))


def _zone(run: object) -> str:
    from escalation_flow.bootstrap import Root
    from escalation_flow.errors import EscalationFlowError

    if not isinstance(run, Root):
        return _FALLBACK_ZONE
    try:
        return run.trust().timezone
    except (EscalationFlowError, OSError):
        return _FALLBACK_ZONE

