"""The command line as an attendance team uses it: pupils by name (never in the logs), a name
search on tasks, case list, case show and letters list, letters by a task's id and as text,
``--today`` on every command that reads the date, and the case file as a document written into
``var/exports/``. On the sample trust's registers (the pages' test world)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.cli.today import HELP, TODAY_COMMANDS
from escalation_flow.clock import SimulatedClock
from tests.e2e.web_world import NOW, TRUST_DIR, World, new_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return new_world(tmp_path_factory.mktemp("cli-names"))


def run(world: World, *args: str, now: datetime = NOW) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "INFO",
    }
    return CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(now)))


def test_tasks_show_each_pupils_name_and_never_log_it(world: World) -> None:
    result = run(world, "tasks", "--school", "school-01")
    assert result.exit_code == 0, result.output
    head = result.stdout.splitlines()[0].split()
    assert head[:5] == ["id", "school", "pupil", "name", "task"]
    line = next(x for x in result.stdout.splitlines() if " S01-P0025 " in x)
    assert "Archie Martin" in line
    assert "Archie" not in result.stderr and "Martin" not in result.stderr


def test_tasks_pupil_finds_a_pupil_by_the_start_of_a_name_in_any_case(world: World) -> None:
    result = run(world, "tasks", "--pupil", "MART")
    assert result.exit_code == 0, result.output
    rows = [x for x in result.stdout.splitlines() if re.match(r"^\d+ +school-", x)]
    assert rows and all("S01-P0025" in x and "Archie Martin" in x for x in rows)
    assert run(world, "tasks", "--pupil", "s01-p0025").stdout == result.stdout  # or the id
    assert "no open tasks" in run(world, "tasks", "--pupil", "zzz").stdout


def test_case_list_names_each_pupil_and_narrows_to_a_search(world: World) -> None:
    every = run(world, "case", "list", "school-01")
    assert every.exit_code == 0, every.output
    assert "Adam Harris" in every.stdout and "Freya Hall" in every.stdout
    adams = run(world, "case", "list", "school-01", "--pupil", "adam")
    pupils = [x.split()[0] for x in adams.stdout.splitlines()[1:-1]]
    assert sorted(pupils) == ["S01-P0007", "S01-P0014"]  # Adam Harris, Adam Williams
    assert adams.stdout.splitlines()[-1] == "2 cases, 2 open"


def test_case_show_finds_one_pupil_by_name_and_lists_them_when_a_name_is_shared(
    world: World,
) -> None:
    shown = run(world, "case", "show", "school-01", "freya")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("Synthetic School 01 (school-01): S01-P0036 Freya Hall: case")
    assert run(world, "case", "show", "school-01", "--pupil", "freya h").stdout == shown.stdout
    several = run(world, "case", "show", "school-01", "adam")
    assert several.exit_code == 2
    assert "4 pupils at school-01 match 'adam'" in several.stderr  # the roster's Adams
    assert "S01-P0007 (Adam Harris)" in several.stderr
    assert "S01-P0014 (Adam Williams)" in several.stderr
    nobody = run(world, "case", "show", "school-01", "no such name")
    assert nobody.exit_code != 0 and "no pupil at school-01" in nobody.stderr


def _letters(result: Result) -> list[list[str]]:
    lines = result.stdout.splitlines()
    return [re.split(r"\s{2,}", x) for x in lines if re.match(r"^\d+ +school-", x)]


def test_letters_list_filters_by_school_status_date_and_pupil(world: World) -> None:
    every = _letters(run(world, "letters", "list"))
    assert len(every) >= 20 and [int(r[0]) for r in every] == sorted(
        (int(r[0]) for r in every), reverse=True
    ), "newest first"
    school3 = _letters(run(world, "letters", "list", "--school", "school-03"))
    assert school3 and all(r[1] == "school-03" for r in school3)
    superseded = _letters(run(world, "letters", "list", "--status", "superseded"))
    assert superseded and all("superseded" in r for r in superseded)
    on_day = _letters(run(world, "letters", "list", "--date", "2025-10-10"))
    assert on_day and all(r[6].startswith("2025-10-10") for r in on_day)
    week = _letters(run(world, "letters", "list", "--date", "2025-10-06..2025-10-10"))
    assert set(map(tuple, on_day)) < set(map(tuple, week))
    layla = _letters(run(world, "letters", "list", "--pupil", "layla"))
    assert layla and all(r[3] == "Layla Chapman" for r in layla)
    bad = run(world, "letters", "list", "--date", "2025-10-10..2025-10-01")
    assert bad.exit_code == 2 and "before the first" in bad.output


def test_letters_show_given_a_task_id_says_which_letter_it_is_and_shows_its_text(
    world: World,
) -> None:
    row = _letters(run(world, "letters", "list", "--pupil", "ruby k"))[0]
    letter, task = int(row[0]), int(row[-1])
    assert letter != task
    by_task = run(world, "letters", "show", "--task", str(task))
    assert by_task.exit_code == 0, by_task.output
    assert by_task.stdout.startswith(f"letter {letter}: first_concern_letter")
    if not run(world, "letters", "show", str(task)).exit_code:  # an id no letter has
        guessed = run(world, "letters", "show", str(task)).stdout
        assert f"task {task} is" in guessed.splitlines()[0]
    text = run(world, "letters", "show", str(letter)).stdout
    assert "Ruby King" in text and "<p" not in text and "<style" not in text
    html = run(world, "letters", "show", str(letter), "--html").stdout
    assert "<p" in html and "Ruby King" in html


def test_letters_show_of_a_task_that_has_no_letter_says_so(world: World) -> None:
    rows = run(world, "tasks", "--school", "school-01", "--role", "attendance_lead").stdout
    task = next(x.split()[0] for x in rows.splitlines() if "notify_local_authority" in x)
    result = run(world, "letters", "show", "--task", task)
    assert result.exit_code != 0 and f"task {task} (notify_local_authority" in result.stderr


def _command(path: str) -> click.Command:
    command: click.Command = main
    for name in path.split():
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"no command {path!r}"
        command = found
    return command


#: each command that reads today's date, with the arguments it needs in the test world
TODAY_ARGS = {
    "tasks": [],
    "case show": ["school-01", "S01-P0036"],
    "status": [],
    "contacts show": ["school-01", "S01-P0001"],
    "report targeting": ["--school", "school-01", "--term", "autumn-2025"],
    "report la-monthly": ["--school", "school-01", "--month", "2025-09"],
    "retention due": [],
    "penalty-notices check": ["school-01", "S01-P0036"],
}


def test_every_command_that_reads_todays_date_takes_the_one_today_option() -> None:
    assert set(TODAY_COMMANDS) == {*TODAY_ARGS, "serve"}
    for path in TODAY_COMMANDS:
        [option] = [p for p in _command(path).params if p.name == "today"]
        assert HELP in (getattr(option, "help", "") or ""), path


@pytest.mark.parametrize("path", sorted(TODAY_ARGS))
def test_each_command_runs_as_of_the_today_it_is_given(world: World, path: str) -> None:
    later = datetime(2026, 3, 2, 18, tzinfo=NOW.tzinfo)  # months on: tasks long overdue
    result = run(world, *path.split(), *TODAY_ARGS[path], "--today", "2025-10-10", now=later)
    assert result.exit_code in (0, 1), result.output  # status exits 1 on overdue timers
    if path == "status":
        assert "now 2025-10-10" in result.stdout
    if path == "tasks":
        assert result.stdout == run(world, "tasks").stdout  # the world's own evening
    bad = run(world, *path.split(), *TODAY_ARGS[path], "--today", "10/10/2025")
    assert bad.exit_code == 2 and "--today" in bad.output


def test_the_case_file_goes_to_var_exports_and_reads_as_a_document(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(world, "case", "export", "school-01", "freya", "--format", "html")
    assert result.exit_code == 0, result.output
    written = tmp_path / "var" / "exports" / "school-01-S01-P0036-case-file.html"
    assert f"written to {written.resolve()}" in result.stdout
    assert "S01-P0036 (Freya Hall) at Synthetic School 01 (school-01)" in result.stdout
    html = written.read_text(encoding="utf-8")
    assert "<td>Synthetic School 01 (school-01)</td>" in html
    assert "Generated on Friday 10 October 2025 at 7pm." in html  # 18:00 UTC, in BST
    assert "opened on Tuesday 9 September 2025" in html
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html), "no machine time stamps"
    assert "(recorded on " in html and " UTC)" not in html  # the parents' lines too
    assert "Alex Morgan" not in html or "(lead)" in html  # staff by name where they acted
