"""The command line: thin commands over the service; errors become one-line messages and exit codes.

Each area keeps its commands in its own module here and attaches them to ``main`` (or to a group
of another area's module, which it imports). A module is imported only when one of its commands
is asked for (``COMMANDS``): ``import marks`` loads ``cli.registers`` and what it uses, not the
service, the letters' PDF library or the pages, which cost more than a second to import.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

import click

from escalation_flow.errors import EscalationFlowError, InputError

if TYPE_CHECKING:
    from escalation_flow.bootstrap import Root

#: The module of ``escalation_flow.cli`` that makes each command: every top-level command, and
#: each command that a module adds to another module's group (``"import actions"``), so that the
#: group lists it before that module is loaded. A command missing here is never found (a test
#: compares this table with the commands the modules make).
COMMANDS: dict[str, str] = {
    "audit": "audit", "replay": "audit",
    "backtest": "backtest",
    "backup": "backup", "restore": "backup",
    "case": "cases", "event": "cases", "import actions": "cases",
    "case export": "audit", "case migrate": "audit",
    "case undo": "undo", "tasks undo": "undo",
    "contacts": "contacts", "import contacts": "contacts",
    "daemon": "daemon",
    "facts": "facts",
    "flows": "flows",
    "import": "registers", "db": "registers",
    "letters": "letters",
    "letters send": "outbox", "letters outbox": "outbox", "letters print": "outbox",
    "penalty-notices": "penalty_notices",
    "report": "reports",
    "retention": "retention",
    "run-day": "days",
    "serve": "web", "users": "web",
    "status": "status",
    "subject-access": "subject_access",
    "tasks": "tasks",
}  # fmt: skip


class _LazyGroup(click.Group):
    """A group whose commands ``COMMANDS`` places in modules not yet imported: the module is
    imported when the command is asked for (to run it, or for its line in ``--help``)."""

    def _prefix(self) -> str:
        return f"{self.name} "

    def _lazy(self) -> dict[str, str]:
        prefix = self._prefix()
        return {
            path[len(prefix) :]: module
            for path, module in COMMANDS.items()
            if path.startswith(prefix) and " " not in path[len(prefix) :]
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._lazy()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self._lazy().get(cmd_name)
        if module is not None:  # imported once; later asks find it in sys.modules
            importlib.import_module(f"escalation_flow.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and self.get_command(ctx, args[0]) is None:
            # No such command: every module in, so that click's "Did you mean ...?" picks
            # from all the commands it would have known before.
            for module in sorted(set(self._lazy().values())):
                importlib.import_module(f"escalation_flow.cli.{module}")
        return super().resolve_command(ctx, args)


class _Group(_LazyGroup):
    """Turns our typed errors into a clear message on stderr and the error's exit code."""

    group_class = _LazyGroup

    def _prefix(self) -> str:
        return ""

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
