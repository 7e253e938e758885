"""``tasks`` on the command line names people: the pupils a school's duty covers by name (their
ids beside), and whoever recorded a task by their name rather than their staff id."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.adapters.store import Store
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.web.plan_words import task_definition
from tests.e2e.web_world import NOW, TODAY, TRUST_DIR, World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


def cli(world: World, *args: str) -> tuple[int, str, str]:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(NOW)))
    return result.exit_code, result.stdout, result.stderr


def test_a_school_s_duty_lists_the_pupils_it_covers_by_name(world: World) -> None:
    duty = next(v for v in world.service().tasks() if v.covers)
    store = Store(world.url)
    try:
        roster = store.load_roster(duty.school).pupils
    finally:
        store.dispose()
    code, out, _ = cli(world, "tasks", "--school", duty.school, "--today", TODAY.isoformat())
    assert code == 0
    named = ", ".join(f"{roster[p].forename} {roster[p].surname} ({p})" for p in duty.covers)
    assert f"    covers {len(duty.covers)}: {named}" in out.splitlines()


def test_a_task_done_says_who_recorded_it_by_name(world: World) -> None:
    task = next(v for v in world.service().tasks(school="school-03") if not v.approval)
    definition = task_definition(world.service().setup("school-03").flow, task.task)
    outcome = definition.outcomes[0] if definition else "done"
    done = ("tasks", "done", str(task.id), "--by", "lead3", "--outcome", outcome)
    code, out, err = cli(world, *done)
    assert code == 0, err
    assert out.rstrip().endswith("by Robin Hughes (lead3)")
    code, again, err = cli(world, *done)
    assert code == 0, err
    assert "already recorded" in again and "by Robin Hughes (lead3);" in again
