"""Staff at the command line: run a day, list what is due, complete tasks, read a case and why,
override, approve and send letters, apply an actions file, and the status health check.

Commands run through click's CliRunner on a SQLite copy of the daemon builders' trust, with the
service's clock replaced by a simulated one (Friday 12 September 2025, evening).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from tests.daemon_builders import (
    DAYS,
    LAST_DAY,
    SCHOOL,
    RootedRunner,
    built_state,
    clone,
    day_marks,
    evening_clock,
    local,
    write_trust,
)
from tests.staff_builders import NO_LOGIN, add_staff

#: The members of staff these tests name (``users add``'s rows).
STAFF = ("s.one", "s.two", "s.head", "s.h")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for url in built_state("sqlite", tmp_path_factory.mktemp("staff-cli")):
        add_staff(url, *STAFF)
        yield url


@pytest.fixture
def clock() -> SimulatedClock:
    return evening_clock()


@pytest.fixture
def cli(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock
) -> Iterator[CliRunner]:
    for url in clone(template, tmp_path):
        monkeypatch.setenv("ESCALATION_FLOW_DATABASE_URL", url)
        monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(write_trust(tmp_path / "trust")))
        monkeypatch.setenv("ESCALATION_FLOW_LOG_FORMAT", "json")
        monkeypatch.setenv("ESCALATION_FLOW_LOG_LEVEL", "WARNING")
        yield RootedRunner(Root(clock))


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def task_ids(cli: CliRunner) -> dict[tuple[str, str], int]:
    table = run(cli, "tasks").output
    # id, school, pupil, the pupil's name from the test trust's roster ("Pat TestP1"), task
    found = re.findall(r"^(\d+)\s+\S+\s+(P\d)\s+Pat TestP\d\s+(\S+)", table, flags=re.MULTILINE)
    return {(pupil, task): int(i) for i, pupil, task in found}


def test_run_day_evaluates_a_day_once(
    cli: CliRunner, clock: SimulatedClock, tmp_path: Path
) -> None:
    day = DAYS[-1] + timedelta(days=3)  # Monday 15 September
    from escalation_flow.adapters.register_files import read_marks
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.settings import load_settings

    clock.set(local(day, 17))
    trust = load_trust(load_settings().trust_file)
    store = Store(load_settings().database_url)
    path = day_marks(tmp_path, day)
    store.import_marks(read_marks(path, trust.calendars()), file=path, now=clock.now(), by="t")
    store.dispose()
    first = run(cli, "run-day", "--date", day.isoformat())
    again = run(cli, "run-day", "--date", day.isoformat(), "--school", SCHOOL)
    assert first.exit_code == 0 and f"{SCHOOL} {day}:" in first.output
    assert "already evaluated" in again.output


def test_run_day_after_a_gap_is_refused_naming_the_first_day_missed_unless_catch_up(
    cli: CliRunner, clock: SimulatedClock
) -> None:
    """A hand ``run-day`` past unevaluated school days would leave them never evaluated (a day
    before the latest is never run): refused, or with --catch-up the missed days run first."""
    day = DAYS[-1] + timedelta(days=5)  # Wednesday 17 September; the 15th and 16th not run
    clock.set(local(day, 17))
    refused = cli.invoke(main, ["run-day", "--date", day.isoformat()])
    assert refused.exit_code == 2
    assert f"{SCHOOL}: school day 2025-09-15 was never evaluated (2 school day(s)" in refused.stderr
    assert "--catch-up" in refused.stderr
    caught = run(cli, "run-day", "--date", day.isoformat(), "--catch-up")
    assert caught.exit_code == 0, caught.output
    lines = [x for x in caught.output.splitlines() if x.startswith(SCHOOL)]
    assert [x.split(":")[0] for x in lines] == [
        f"{SCHOOL} 2025-09-15", f"{SCHOOL} 2025-09-16", f"{SCHOOL} 2025-09-17"
    ]  # fmt: skip
    assert "(caught up)" in lines[0] and "(caught up)" not in lines[-1]


def test_tasks_lists_overdue_first_with_the_school_days_overdue(
    cli: CliRunner, clock: SimulatedClock
) -> None:
    clock.set(local(LAST_DAY + timedelta(days=10), 12))  # Monday 22 September
    result = run(cli, "tasks", "--school", SCHOOL)
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "id",
        "school",
        "pupil",
        "name",
        "task",
        "role",
        "due",
        "overdue",
        "approval",
    ]
    body = lines[2:-1]
    assert "attendance_reminder_letter" in body[0] and "9 school days" in body[0]  # P2's, first
    call = next(line for line in body if "first_day_absence_call" in line)
    assert "P2" in call and "2025-09-12" in call and "school days" in call
    letter = next(line for line in body if "attendance_reminder_letter" in line and "P1" in line)
    assert "3 school days" in letter and "needed (letter" in letter
    only_role = run(cli, "tasks", "--role", "class_teacher").output
    assert "no open tasks" in only_role


def test_tasks_today_counts_overdue_days_as_of_that_date_not_the_clock(
    cli: CliRunner, clock: SimulatedClock
) -> None:
    clock.set(local(LAST_DAY + timedelta(days=100), 12))  # months later
    then = run(cli, "tasks", "--school", SCHOOL, "--today", "2025-09-22").output
    letter = next(line for line in then.splitlines() if "attendance_reminder_letter" in line)
    assert "9 school days" in letter  # P2's letter, due 9 September, as of the 22nd
    now = run(cli, "tasks", "--school", SCHOOL).output
    assert "9 school days" not in now


def test_case_list_shows_each_case_where_it_stands(cli: CliRunner) -> None:
    result = run(cli, "case", "list", SCHOOL)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["pupil", "name", "status", "stage", "state"]
    p1 = next(line for line in lines if line.startswith("P1 "))
    # the test trust's roster names P1 "Pat TestP1"
    assert p1.split()[:7] == ["P1", "Pat", "TestP1", "open", "2", "stage_2.support", "2025-09-12"]
    assert lines[-1] == "2 cases, 2 open"
    assert "no cases" in run(cli, "case", "list", SCHOOL, "--status", "closed").output


def test_task_done_twice_by_two_people_second_is_told_who_did_it(cli: CliRunner) -> None:
    task = task_ids(cli)[("P2", "first_day_absence_call")]
    first = run(cli, "tasks", "done", str(task), "--outcome", "contact_made", "--by", "s.one")
    second = run(cli, "tasks", "done", str(task), "--outcome", "no_answer", "--by", "s.two")
    assert first.exit_code == 0 and "done: contact_made" in first.output
    assert second.exit_code == 4
    assert "already completed by s.one" in second.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("9999", "--outcome", "sent", "--by", "s.one"), "no task 9999"),
        (
            ("{letter}", "--outcome", "posted", "--by", "s.one"),
            "outcome 'posted' is not one of sent",
        ),
        (("{letter}", "--outcome", "sent", "--by", "s.one"), "has not been approved"),
    ],
)
def test_a_refused_completion_says_why_and_exits_2(
    cli: CliRunner, args: tuple[str, ...], message: str
) -> None:
    letter = task_ids(cli)[("P1", "attendance_reminder_letter")]
    result = run(cli, "tasks", "done", *(a.format(letter=letter) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr


def test_case_show_prints_the_stage_history_and_why(cli: CliRunner) -> None:
    output = run(cli, "case", "show", SCHOOL, "P1").output
    assert "stage 2 (stage_2.support)" in output
    assert "entered stage 2" in output
    assert "because: late_sessions_this_half_term = 3" in output
    assert "rule: late_sessions_this_half_term >= stage_2_lates" in output
    assert 'plan: "OR has three or more late arrivals over a half term"' in output
    assert "attendance_reminder_letter (attendance_team), due 2025-09-17" in output


def test_override_is_recorded_with_reason_and_who(cli: CliRunner) -> None:
    result = run(
        cli, "case", "override", SCHOOL, "P1", "--stage", "0", "--reason", "left the school",
        "--by", "s.head",
    )  # fmt: skip
    assert result.exit_code == 0 and "case closed" in result.output
    shown = run(cli, "case", "show", SCHOOL, "P1").output
    assert "closed on 2025-09-12" in shown and "[by s.head]" in shown
    assert 'plan: "left the school"' in shown


def test_a_letter_is_approved_then_recorded_sent(cli: CliRunner, tmp_path: Path) -> None:
    ids = task_ids(cli)
    task = ids[("P1", "attendance_reminder_letter")]
    line = next(x for x in run(cli, "tasks").output.splitlines() if x.startswith(f"{task} "))
    letter_id = re.search(r"letter (\d+)", line)
    assert letter_id is not None
    letter = letter_id.group(1)
    shown = run(cli, "letters", "show", letter, "--pdf", str(tmp_path / "l.pdf"))
    assert "status: prepared" in shown.output and (tmp_path / "l.pdf").read_bytes()[:4] == b"%PDF"
    assert "approved by s.head" in run(cli, "letters", "approve", letter, "--by", "s.head").output
    assert run(cli, "tasks", "done", str(task), "--outcome", "sent", "--by", "s.one").exit_code == 0
    assert "status: sent" in run(cli, "letters", "show", letter).output


def test_letters_approve_refuses_staff_who_may_not_approve_at_the_letters_school(
    cli: CliRunner, tmp_path: Path
) -> None:
    """The pages let only the school's attendance lead or headteacher approve; the command line
    did not ask (issue 14). A class teacher and a family liaison officer there are refused."""
    from datetime import UTC, datetime

    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.staff_store import StaffStore
    from escalation_flow.core.access import Grant
    from escalation_flow.core.definition import Role

    store = Store(os.environ["ESCALATION_FLOW_DATABASE_URL"])
    try:
        staff, now = StaffStore(store.engine), datetime(2025, 9, 1, tzinfo=UTC)
        staff.add_staff("t.class", "T", NO_LOGIN, [Grant(Role.CLASS_TEACHER, SCHOOL)], now)
        staff.add_staff("f.liaison", "F", NO_LOGIN, [Grant(Role.FAMILY_LIAISON_OFFICER, SCHOOL)], now)
        staff.add_staff("l.here", "H", NO_LOGIN, [Grant(Role.ATTENDANCE_LEAD, SCHOOL)], now)
    finally:
        store.dispose()
    letter = re.findall(r"letter (\d+)", run(cli, "tasks").output)[0]
    for who in ("t.class", "f.liaison"):
        refused = cli.invoke(main, ["letters", "approve", letter, "--by", who])
        assert refused.exit_code != 0
        assert f"{who} may not approve letter {letter}: letters at {SCHOOL} are approved by its " \
            "attendance lead or headteacher" in refused.stderr
    assert "status: prepared" in run(cli, "letters", "show", letter).output
    assert "approved by l.here" in run(cli, "letters", "approve", letter, "--by", "l.here").output


def test_event_record_and_import_actions(cli: CliRunner, tmp_path: Path) -> None:
    recorded = run(cli, "event", "record", SCHOOL, "P2", "la_case_closed", "--by", "s.one")
    assert recorded.exit_code == 0 and "la_case_closed recorded" in recorded.output
    unknown = run(cli, "event", "record", SCHOOL, "P2", "bake_sale", "--by", "s.one")
    assert unknown.exit_code == 2 and "not a task or event" in unknown.stderr
    path = tmp_path / "actions.csv"
    at = local(LAST_DAY, 18, 45).isoformat()
    path.write_text(
        f"at,school,pupil,action,outcome,by\n{at},{SCHOOL},P3,la_case_closed,,s.one\n",
        encoding="utf-8",
    )
    assert "1 actions applied" in run(cli, "import", "actions", str(path)).output
    assert "1 already recorded" in run(cli, "import", "actions", str(path)).output


def test_status_exits_1_when_a_timer_is_overdue_past_the_margin(
    cli: CliRunner, clock: SimulatedClock
) -> None:
    run(cli, "case", "override", SCHOOL, "P2", "--stage", "3", "--reason", "meeting", "--by", "s.h")
    meeting = task_ids(cli)[("P2", "attendance_meeting")]
    run(cli, "tasks", "done", str(meeting), "--outcome", "held", "--by", "s.one")
    healthy = run(cli, "status")
    assert healthy.exit_code == 0 and "1 pending, 0 overdue" in healthy.output
    clock.set(local(LAST_DAY + timedelta(days=28), 10))  # the review was due at 08:00
    late = run(cli, "status")
    assert late.exit_code == 1
    assert "four_week_review" in late.output and "overdue by more than 60 minutes" in late.output
    assert "(2 hours ago)" in late.output  # due at 08:00, asked at 10:00


# -- who did it: a member of staff or a declared system actor -----------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("tasks", "done", "{task}", "--outcome", "contact_made"),
        ("letters", "approve", "1"),
        ("case", "override", SCHOOL, "P1", "--stage", "0", "--reason", "left"),
        ("event", "record", SCHOOL, "P2", "la_case_closed"),
        ("case", "migrate", SCHOOL, "P1", "--to-version", "current", "--reason", "revised"),
    ],
)
def test_a_staff_command_naming_someone_not_on_the_staff_refuses_and_says_how_to_add_them(
    cli: CliRunner, command: tuple[str, ...]
) -> None:
    task = task_ids(cli)[("P2", "first_day_absence_call")]
    before = run(cli, "case", "show", SCHOOL, "P1").output
    args = [a.format(task=task) for a in command]
    result = run(cli, *args, "--by", "m.stranger")
    assert result.exit_code == 2
    assert "'m.stranger' is not a member of staff" in result.stderr
    assert "escalation-flow users add m.stranger" in result.stderr
    assert run(cli, "case", "show", SCHOOL, "P1").output == before
    assert task_ids(cli)[("P2", "first_day_absence_call")] == task  # still open


def test_auto_is_a_declared_system_actor_the_commands_accept(cli: CliRunner) -> None:
    task = task_ids(cli)[("P2", "first_day_absence_call")]
    done = run(cli, "tasks", "done", str(task), "--outcome", "contact_made", "--by", "auto")
    assert done.exit_code == 0 and "by auto" in done.output


def _actions(tmp_path: Path, *rows: tuple[str, str, str]) -> Path:
    """An actions file: (pupil, action, by) per row, at the evening of the last school day."""
    at = local(LAST_DAY, 18, 45).isoformat()
    path = tmp_path / "actions.csv"
    lines = ["at,school,pupil,action,outcome,by"]
    lines += [f"{at},{SCHOOL},{pupil},{action},,{by}" for pupil, action, by in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_actions_file_naming_someone_not_on_the_staff_is_refused_whole(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = _actions(
        tmp_path, ("P3", "la_case_closed", "s.one"), ("P2", "la_case_closed", "x.nobody")
    )
    result = run(cli, "import", "actions", str(path))
    assert result.exit_code == 2
    assert f"{path}:3: by: 'x.nobody' is not a member of staff" in result.stderr
    assert "nothing was applied" in result.stderr
    assert "la_case_closed" not in run(cli, "case", "show", SCHOOL, "P3").output


def test_skip_invalid_applies_the_rows_naming_staff_and_lists_the_others(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = _actions(
        tmp_path, ("P3", "la_case_closed", "s.one"), ("P2", "la_case_closed", "x.nobody")
    )
    result = run(cli, "import", "actions", str(path), "--skip-invalid")
    assert "1 actions applied, 0 already recorded, 1 refused" in result.output
    assert result.exit_code == 2 and f"{path}:3: by: 'x.nobody'" in result.stderr
    assert "la_case_closed recorded [by s.one]" in run(cli, "case", "show", SCHOOL, "P3").output
    assert "la_case_closed" not in run(cli, "case", "show", SCHOOL, "P2").output
