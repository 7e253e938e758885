"""A trust whose schools keep different calendars: ``run-day`` for the whole trust runs every
school for which the date is a school day and says which it skipped, instead of stopping at the
first school whose calendar does not have it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from tests.daemon_builders import ROOT, day_marks, local, write_trust


def two_calendars(folder: Path) -> Path:
    """The test trust plus a second school whose autumn term starts a day later."""
    trust = write_trust(folder)
    england = (ROOT / "config" / "calendars" / "england-2025-26.yaml").read_text(encoding="utf-8")
    later = england.replace("start: 2025-09-03", "start: 2025-09-04")
    assert later != england
    later = later.replace("name: england-2025-26", "name: pines-2025-26", 1)
    (folder / "pines-2025-26.yaml").write_text(later, encoding="utf-8")
    flow = ROOT / "flows" / "sherrier-ce-primary.yaml"
    text = trust.read_text(encoding="utf-8") + (
        "  - id: pines\n"
        "    name: Pines Primary\n"
        f"    flow: {flow}\n"
        f"    calendars: [{folder / 'pines-2025-26.yaml'}]\n"
        "    letters: draft-only\n"
    )
    trust.write_text(text, encoding="utf-8")
    return trust


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    trust = two_calendars(tmp_path)
    environment = {
        "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite'}",
        "ESCALATION_FLOW_TRUST_FILE": str(trust),
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    migrated = CliRunner().invoke(main, ["db", "upgrade"], env=environment)
    assert migrated.exit_code == 0, migrated.output
    return environment


def test_run_day_for_the_trust_skips_a_school_whose_calendar_lacks_the_day(
    env: dict[str, str],
) -> None:
    root = Root(SimulatedClock(local(date(2025, 9, 3), 19)))
    result = CliRunner().invoke(main, ["run-day", "--date", "2025-09-03"], env=env, obj=root)

    assert result.exit_code == 0, result.output
    assert "pines: 2025-09-03 is not a school day in calendar pines-2025-26; skipped" in (
        result.output
    )
    assert "oaks" in result.output.replace("pines", "")


def test_run_day_for_one_school_refuses_a_day_outside_its_calendar(env: dict[str, str]) -> None:
    root = Root(SimulatedClock(local(date(2025, 9, 3), 19)))
    args = ["run-day", "--date", "2025-09-03", "--school", "pines"]
    result = CliRunner().invoke(main, args, env=env, obj=root)

    assert result.exit_code == 2, result.output
    assert "2025-09-03" in result.output


def test_run_day_for_a_date_outside_every_calendar_is_an_error(env: dict[str, str]) -> None:
    root = Root(SimulatedClock(local(date(2025, 9, 3), 19)))
    result = CliRunner().invoke(main, ["run-day", "--date", "2031-01-06"], env=env, obj=root)

    assert result.exit_code == 2, result.output
    assert "2031-01-06 is outside every school's calendar" in result.output


def test_run_day_on_a_school_never_evaluated_refuses_a_date_after_its_first_day_unless_catch_up(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A school never evaluated accepted any date, so the days before it could never be
    evaluated: a later date is refused, naming the calendar's first day (no marks yet) or the
    first school day with marks, unless --catch-up runs those days first."""
    root = Root(SimulatedClock(local(date(2025, 9, 8), 19)))
    args = ["run-day", "--date", "2025-09-08", "--school", "oaks"]
    refused = CliRunner().invoke(main, args, env=env, obj=root)
    assert refused.exit_code == 2
    assert "oaks: school day 2025-09-03 was never evaluated" in refused.stderr
    assert "--catch-up" in refused.stderr

    marks = day_marks(tmp_path, date(2025, 9, 4))  # the school's registers start on the 4th
    imported = CliRunner().invoke(main, ["import", "marks", str(marks)], env=env, obj=root)
    assert imported.exit_code == 0, imported.output
    refused = CliRunner().invoke(main, args, env=env, obj=root)
    assert refused.exit_code == 2
    assert "oaks: school day 2025-09-04 was never evaluated (2 school day(s)" in refused.stderr

    caught = CliRunner().invoke(main, [*args, "--catch-up"], env=env, obj=root)
    assert caught.exit_code == 0, caught.output
    ran = [x.split(":")[0] for x in caught.output.splitlines() if x.startswith("oaks")]
    assert ran == ["oaks 2025-09-04", "oaks 2025-09-05", "oaks 2025-09-08"]
