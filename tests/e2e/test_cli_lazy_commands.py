"""The command line imports a command's module only when that command is asked for
(``cli.COMMANDS``): the table must place every command, and what a user sees, ``--help`` and
every command's own ``--help``, must be what it was when every module was imported at the
start."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click

from escalation_flow import cli
from escalation_flow.cli import COMMANDS, main

CLI = Path(cli.__file__).resolve().parent
DATA = Path(__file__).resolve().parents[1] / "data" / "registers"

#: Walks the command tree through click, printing each command's ``--help``: run in a fresh
#: process, after importing every module of the command line first when asked to.
_HELP_OF_EVERY_COMMAND = """
import importlib, sys
import click
from click.testing import CliRunner
from escalation_flow.cli import main
for name in sys.argv[1:]:
    importlib.import_module(f"escalation_flow.cli.{name}")
def walk(command, path):
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="escalation-flow")
    assert result.exit_code == 0, (path, result.output)
    print("=== " + " ".join(path) + "\\n" + result.output)
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), [*path, name])
walk(main, [])
"""


def _command_modules() -> list[str]:
    return sorted(p.stem for p in CLI.glob("*.py") if p.stem != "__init__")


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(CLI.parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_table_places_every_command_in_the_module_that_makes_it() -> None:
    for name in _command_modules():  # every module, listed in the table or not
        importlib.import_module(f"escalation_flow.cli.{name}")
    made: dict[str, str] = {}
    for name, command in main.commands.items():
        module = command.callback.__module__ if command.callback else ""
        made[name] = module
        if isinstance(command, click.Group):
            for sub, inner in command.commands.items():
                assert not isinstance(inner, click.Group), f"{name} {sub}: groups nest one deep"
                inner_module = inner.callback.__module__ if inner.callback else ""
                if inner_module != module:  # another module's command in this group
                    made[f"{name} {sub}"] = inner_module
    assert {path: f"escalation_flow.cli.{m}" for path, m in COMMANDS.items()} == made


def test_help_is_the_same_loaded_command_by_command_as_all_at_once() -> None:
    lazily = _python(_HELP_OF_EVERY_COMMAND)
    # All at once in name order: ``audit`` before ``cases``, the order in which ``case export``
    # was once attached to a ``case`` group that ``cases`` then replaced.
    eagerly = _python(_HELP_OF_EVERY_COMMAND, *_command_modules())
    assert lazily == eagerly
    assert lazily.count("=== ") > len(COMMANDS)  # the walk reached the subcommands


def test_import_marks_loads_neither_the_service_nor_the_letters_nor_the_pages(
    tmp_path: Path,
) -> None:
    code = """
import json, sys
from escalation_flow.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
print(json.dumps(sorted(sys.modules)))
"""
    env = {
        "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite'}",
        "ESCALATION_FLOW_TRUST_FILE": str(DATA / "trust.yaml"),
    }
    _python(code, "db", "upgrade", env=env)
    out = _python(code, "import", "marks", str(DATA / "marks.csv"), "--by", "tester", env=env)
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "escalation_flow.adapters.store.audit_store" in loaded  # it did seal
    heavy = (
        "escalation_flow.service", "escalation_flow.web", "escalation_flow.cli.cases",
        "escalation_flow.adapters.store.case_writer", "escalation_flow.adapters.letter_pdf",
        "fpdf", "jinja2", "matplotlib",
    )  # fmt: skip
    assert not sorted(m for m in loaded if m.startswith(heavy))


def test_a_mistyped_command_is_answered_with_the_nearest_one_from_every_command() -> None:
    code = """
import sys
from click.testing import CliRunner
from escalation_flow.cli import main
print(CliRunner().invoke(main, sys.argv[1:]).output)
"""
    assert "Did you mean 'import'?" in _python(code, "improt")
    assert "Did you mean 'send'?" in _python(code, "letters", "sendd")  # a command of outbox
