"""The command line: thin commands over the service; errors become one-line messages and exit codes.

Each area keeps its commands in its own module here and attaches them to ``main``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from escalation_flow.errors import EscalationFlowError, InputError


class _Group(click.Group):
    """Turns our typed errors into a clear message on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc.summary}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(exc.exit_code)
        except EscalationFlowError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="escalation-flow")
def main() -> None:
    """Run English schools' attendance escalation plans: registers in, cases, reviews and tasks out."""
    from escalation_flow.logs import configure_logging
    from escalation_flow.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)


def _register_commands() -> None:
    # Imported here so that each area's module stays independent of the others.
    import importlib

    for name in (
        "registers", "flows", "backtest", "engine_commands", "facts",
        "days", "tasks", "cases", "letters", "status", "web", "audit", "daemon",
    ):  # fmt: skip
        try:
            importlib.import_module(f"escalation_flow.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"escalation_flow.cli.{name}":
                raise


_register_commands()
