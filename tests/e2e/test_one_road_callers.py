"""The service's callers walk the one road too: the daemon (its catch-up evenings and its review
timers), ``run-day`` and a member of staff's action all reach ``core.evaluation.evaluate``, as the
backtest, the school day, replay and the quiet-evening check do (``tests/core/test_one_road.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core import evaluation
from tests.burst_builders import build_burst
from tests.core.test_one_road import Recorder
from tests.daemon_builders import HEADER, PUPILS, SCHOOL, built_state, local
from tests.e2e.daemon_processes import reap
from tests.staff_builders import add_staff


@pytest.fixture(autouse=True)
def _no_daemon_left_running() -> Iterator[None]:
    yield
    reap()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[str]:
    """The built state (P1 and P2 at stage two by 12 September), a database of its own."""
    for url in built_state("sqlite", tmp_path / "built"):
        add_staff(url, "s.jones")  # who approves and sends the letter
        yield url


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    wrapper = Recorder(evaluation.evaluate)
    monkeypatch.setattr(evaluation, "evaluate", wrapper)
    return wrapper


def marks(folder: Path, day: date, unexplained: str) -> Path:
    """Everyone present on ``day`` but ``unexplained``, absent with no reason given (``O``)."""
    rows = [HEADER]
    for pupil in PUPILS:
        am = "O" if pupil == unexplained else "/"
        pm = "O" if pupil == unexplained else "\\"
        rows.append(f"{SCHOOL},{pupil},{day},AM,{am},,{local(day, 9, 5).isoformat()}")
        rows.append(f"{SCHOOL},{pupil},{day},PM,{pm},,{local(day, 13, 10).isoformat()}")
    path = folder / f"marks-{day}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def run(url: str, folder: Path, now: datetime, *args: str) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": url,
        "ESCALATION_FLOW_TRUST_FILE": str(folder / "built" / "trust.yaml"),
        "ESCALATION_FLOW_INBOX_DIR": str(folder / "inbox"),
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(now)))
    assert result.exit_code == 0, result.output
    return result


def test_the_daemon_run_day_and_a_staff_action_reach_the_one_evaluation(
    world: str, tmp_path: Path, recorder: Recorder
) -> None:
    monday, tuesday = date(2025, 9, 15), date(2025, 9, 16)
    run(world, tmp_path, local(monday, 17), "import", "marks", str(marks(tmp_path, monday, "P3")))
    run(world, tmp_path, local(monday, 19), "run-day", "--date", str(monday), "--school", SCHOOL)
    assert "daily" in recorder.kinds_from("cli.days"), "P3 escalates on Monday evening"

    recorder.calls.clear()
    run(world, tmp_path, local(tuesday, 17), "import", "marks", str(marks(tmp_path, tuesday, "P4")))
    run(world, tmp_path, local(tuesday, 19), "daemon", "--once", "--catch-up-days", "1")
    assert "daily" in recorder.kinds_from("daemon.runner"), "P4 escalates on Tuesday evening"

    recorder.calls.clear()
    evening = local(tuesday, 20)
    run(world, tmp_path, evening, "letters", "approve", "1", "--by", "s.jones")  # P2's reminder
    run(world, tmp_path, evening, "tasks", "done", "1", "--outcome", "sent", "--by", "s.jones")
    assert "action" in recorder.kinds_from("service.staff")
    assert "action" in recorder.kinds_from("cli.tasks")


def test_the_daemons_review_timers_reach_the_one_evaluation(
    tmp_path: Path, recorder: Recorder
) -> None:
    """A burst of cases, each with a review timer due (``tests.burst_builders``)."""
    burst = build_burst(f"sqlite:///{tmp_path / 'burst.sqlite'}", tmp_path / "built", 4)
    env = {
        "ESCALATION_FLOW_DATABASE_URL": burst.url,
        "ESCALATION_FLOW_TRUST_FILE": str(burst.trust),
        "ESCALATION_FLOW_INBOX_DIR": str(tmp_path / "inbox"),
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    later = local(date(2026, 3, 2), 19)  # every timer of the burst is due by now
    result = CliRunner().invoke(
        main, ["daemon", "--once", "--catch-up-days", "0"], env=env, obj=Root(SimulatedClock(later))
    )
    assert result.exit_code == 0, result.output
    assert "timer" in recorder.kinds_from("service.days")
    assert "timer" in recorder.kinds_from("daemon.runner")
