"""``tasks undo`` and ``case undo`` at the command line (the fixtures of ``test_staff_cli``: a
SQLite copy of the daemon builders' trust on a simulated clock)."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner

from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from tests.daemon_builders import SCHOOL
from tests.e2e.test_staff_cli import cli, clock, run, task_ids, template

__all__ = ["cli", "clock", "template"]  # the fixtures, used by name


def meeting_held(cli: CliRunner) -> int:
    run(cli, "case", "override", SCHOOL, "P2", "--stage", "3", "--reason", "meeting needed", "--by", "s.head")
    task = task_ids(cli)[("P2", "attendance_meeting")]
    done = run(cli, "tasks", "done", str(task), "--outcome", "held", "--by", "s.one")
    assert done.exit_code == 0, done.output
    return task


def test_tasks_undo_withdraws_ones_own_completion_and_audit_verify_still_holds(
    cli: CliRunner,
) -> None:
    task = meeting_held(cli)
    refused = cli.invoke(main, ["tasks", "undo", str(task), "--by", "s.two"])
    assert refused.exit_code != 0 and "only s.one, who recorded it, may undo it" in refused.output
    undone = run(cli, "tasks", "undo", str(task), "--by", "s.one", "--note", "wrong pupil")
    assert undone.exit_code == 0, undone.output
    assert "undone: attendance_meeting completed (held) by s.one" in undone.output
    assert "back at stage 3" in undone.output
    assert ("P2", "attendance_meeting") in task_ids(cli)  # open again
    verify = run(cli, "audit", "verify")
    assert verify.exit_code == 0, verify.output
    replayed = run(cli, "replay", SCHOOL, "P2")
    assert replayed.exit_code == 0, replayed.output
    assert "withdrawn by s.one" in replayed.output
    chronology = run(cli, "case", "export", SCHOOL, "P2", "--format", "csv", "--out", "-")
    assert "attendance meeting withdrawn by the person who recorded it" in chronology.output
    again = cli.invoke(main, ["case", "undo", SCHOOL, "P2", "--by", "s.one"])
    assert again.exit_code != 0 and "already undone" in again.output


def test_case_undo_after_fifteen_minutes_says_a_correction_is_a_new_action(
    cli: CliRunner, clock: SimulatedClock
) -> None:
    meeting_held(cli)
    clock.set(clock.now() + timedelta(minutes=16))
    late = cli.invoke(main, ["case", "undo", SCHOOL, "P2", "--by", "s.one"])
    assert late.exit_code != 0
    assert "more than 15 minutes ago" in late.output and "new staff action" in late.output
