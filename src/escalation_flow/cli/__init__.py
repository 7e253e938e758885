"""The command line: thin commands over the service; errors become one-line messages and exit codes.

Each area keeps its commands in its own module here and attaches them to ``main``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from escalation_flow.errors import EscalationFlowError, InputError

if TYPE_CHECKING:
    from escalation_flow.bootstrap import Root


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


def root() -> Root:
    """The composition root the command runs under: the one handed to ``main`` as its context
    object (``main(obj=Root(clock))``: tests, demonstrations), else one on the wall clock."""
    from escalation_flow.bootstrap import Root

    ctx = click.get_current_context(silent=True)
    found = ctx.find_root().obj if ctx is not None else None
    return found if isinstance(found, Root) else Root()


#: Each area's module attaches its commands to ``main`` when imported; a module missing here
#: is a broken install, and fails loudly.
COMMAND_MODULES = (
    "registers", "flows", "backtest", "facts", "days", "tasks", "cases", "letters", "status",
    "web", "audit", "daemon", "reports", "contacts", "penalty_notices", "undo", "outbox",
    "backup", "retention", "subject_access",
)  # fmt: skip


def _register_commands() -> None:
    # Imported here, after ``main`` exists, so that each area's module stays independent of the
    # others.
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"escalation_flow.cli.{name}")


_register_commands()
