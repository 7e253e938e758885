"""The command line asks the pages' questions (``core.access``) before a member of staff acts:
auditors change nothing, staff act only at their own schools and only as their role may.

Each command is run on the web world (the sample trust, school-01 and school-03, and its staff)
as someone the pages would refuse; the refusal is exit 2 and one line naming who, the school and
who may, and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role
from tests.e2e.web_world import NOW, TRUST_DIR, World, new_world
from tests.staff_builders import NO_LOGIN

SCHOOL = "school-01"


@pytest.fixture
def world(tmp_path: Path) -> World:
    built = new_world(tmp_path)
    store = Store(built.url)
    try:  # a family liaison officer of the other school
        grant = Grant(Role.FAMILY_LIAISON_OFFICER, "school-03")
        StaffStore(store.engine).add_staff(
            "flo", "F", NO_LOGIN, [grant], datetime(2025, 9, 1, tzinfo=UTC)
        )
    finally:
        store.dispose()
    return built


def cli(world: World, *args: str) -> tuple[int, str, str]:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(NOW)))
    return result.exit_code, result.stdout, result.stderr


def refused(code: int, err: str, who: str) -> bool:
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {who} may not")


def test_tasks_done_refuses_an_auditor_and_leaves_the_task_open(world: World) -> None:
    task = next(v for v in world.service().tasks(school=SCHOOL) if v.pupil)
    code, _, err = cli(world, "tasks", "done", str(task.id), "--by", "auditor")
    assert refused(code, err, "auditor") and f"at {SCHOOL}" in err and "Auditor" in err
    assert task.id in {v.id for v in world.service().tasks(school=SCHOOL)}


def test_tasks_done_refuses_staff_of_another_school(world: World) -> None:
    task = next(v for v in world.service().tasks(school=SCHOOL) if v.pupil)
    code, _, err = cli(world, "tasks", "done", str(task.id), "--by", "lead3")
    assert refused(code, err, "lead3") and "Attendance lead at school-03" in err


def test_case_override_refuses_an_auditor_and_a_class_teacher(world: World) -> None:
    before = cli(world, "case", "show", SCHOOL, "S01-P0007")[1]
    for who in ("auditor", "teacher"):
        code, _, err = cli(world, "case", "override", SCHOOL, "S01-P0007", "--stage", "0",
                           "--reason", "x", "--by", who)  # fmt: skip
        assert refused(code, err, who) and "attendance lead, headteacher" in err
    assert cli(world, "case", "show", SCHOOL, "S01-P0007")[1] == before


def test_event_record_refuses_staff_of_another_school(world: World) -> None:
    before = cli(world, "case", "show", SCHOOL, "S01-P0027")[1]
    code, _, err = cli(world, "event", "record", SCHOOL, "S01-P0027", "safeguarding_concern",
                       "--by", "flo")  # fmt: skip
    assert refused(code, err, "flo") and "Family liaison officer at school-03" in err
    assert cli(world, "case", "show", SCHOOL, "S01-P0027")[1] == before


def test_report_targeting_action_refuses_an_auditor(world: World) -> None:
    code, _, err = cli(world, "report", "targeting-action", "--school", SCHOOL, "--term",
                       "autumn-2025", "--pupil", "S01-P0029", "--action", "x", "--by", "auditor")  # fmt: skip
    assert refused(code, err, "auditor")
    code, out, _ = cli(world, "report", "targeting", "--school", SCHOOL, "--term", "autumn-2025",
                       "--format", "csv")  # fmt: skip
    assert code == 0 and "auditor" not in out


def test_report_la_monthly_record_sent_refuses_a_class_teacher(world: World) -> None:
    code, _, err = cli(world, "report", "la-monthly", "--school", SCHOOL, "--month", "2025-09",
                       "--record-sent", "--by", "teacher")  # fmt: skip
    assert refused(code, err, "teacher") and "attendance lead" in err
    code, out, _ = cli(world, "report", "la-monthly", "--school", SCHOOL, "--month", "2025-09")
    assert code == 0 and "teacher" not in out
