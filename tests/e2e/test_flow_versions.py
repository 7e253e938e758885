"""A school changes its flow file mid-case: open cases stay on the version they were opened under,
new cases open under the new one, a recorded migration moves a case, and replay agrees.

The built state (``tests.daemon_builders``): P1 at stage two on three lates (12 September), P2 at
stage two on an unexplained absence (4 September). On Monday 15 September the trust tightens the
plan's late thresholds: stage two at two lates (was three), stage three at four (was five).
P1 is late on the 15th (a fourth late: stage three under the new text, not under the old) and P3
on the 15th and 16th (two lates: a case under the new text, none under the old).

The trust changes it two ways, each test running both: a revised flow file, or the same two
numbers as the school's overrides in the trust file (written into a flow version of its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service
from tests.daemon_builders import HEADER, PUPILS, ROOT, SCHOOL, built_state, clone, local
from tests.staff_builders import add_staff

OLD_FLOW = ROOT / "flows" / "leigh-academy-oaks.yaml"
LATES = {("P1", date(2025, 9, 15)), ("P3", date(2025, 9, 15)), ("P3", date(2025, 9, 16))}


def revised_flow(folder: Path) -> Path:
    text = OLD_FLOW.read_text(encoding="utf-8")
    for name, old, new in (("stage_2_lates", 3, 2), ("stage_3_lates", 5, 4)):
        before = f"  {name}:\n    value: {old}\n"
        assert before in text
        text = text.replace(before, f"  {name}:\n    value: {new}\n")
    path = folder / "leigh-academy-oaks-revised.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def trust_file(folder: Path, flow: Path, overrides: str = "") -> Path:
    """The test trust, its school on ``flow`` (with ``overrides``, YAML lines)."""
    from tests.daemon_builders import write_trust

    path = write_trust(folder)
    text = path.read_text(encoding="utf-8").replace(str(OLD_FLOW), str(flow)) + overrides
    path.write_text(text, encoding="utf-8")
    return path


def revised_trust(folder: Path, how: str) -> Path:
    if how == "file":
        return trust_file(folder / "trust", revised_flow(folder))
    lines = "    overrides:\n      stage_2_lates: 2\n      stage_3_lates: 4\n"
    return trust_file(folder / "trust", OLD_FLOW, lines)


def import_and_run(service: Service, clock: SimulatedClock, folder: Path, day: date) -> None:
    rows = [HEADER]
    for pupil in PUPILS:
        am = "L" if (pupil, day) in LATES else "/"
        rows.append(
            f"{SCHOOL},{pupil},{day},AM,{am},{'10' if am == 'L' else ''},"
            f"{local(day, 9, 5).isoformat()}"
        )
        rows.append(f"{SCHOOL},{pupil},{day},PM,\\,,{local(day, 13, 10).isoformat()}")
    path = folder / f"marks-{day}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    clock.set(local(day, 17))
    marks = read_marks(path, service.trust.calendars(), aliases=service.trust.aliases)
    service.store.import_marks(marks, file=path, now=clock.now(), by="test")
    clock.set(local(day, 18))
    service.run_day(SCHOOL, day)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from built_state("sqlite", tmp_path_factory.mktemp("versions"))


@pytest.fixture(params=["file", "overrides"])
def changed(
    template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Service, SimulatedClock, Path]]:
    """The built state, then the school's plan revised (its file, or its overrides)."""
    [url] = list(clone(template, tmp_path))
    add_staff(url, "a.lead")  # who migrates the cases
    trust = load_trust(revised_trust(tmp_path, request.param))
    store = Store(url)
    clock = SimulatedClock(local(date(2025, 9, 15), 8))
    try:
        yield Service(store, trust, clock), clock, tmp_path
    finally:
        store.dispose()


def cli(service: Service, tmp_path: Path, *args: str) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": str(service.store.engine.url),
        "ESCALATION_FLOW_TRUST_FILE": str(tmp_path / "trust" / "trust.yaml"),
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    return CliRunner().invoke(main, list(args), env=env)


def versions_recorded(service: Service, pupil: str) -> list[str]:
    return [h.flow_version for h in service.case(SCHOOL, pupil).history]


def test_open_cases_stay_on_their_version_and_new_cases_open_on_the_new_one(
    changed: tuple[Service, SimulatedClock, Path],
) -> None:
    service, clock, folder = changed
    old, new = load_flow(OLD_FLOW).version, service.setup(SCHOOL).flow.version
    assert old != new
    for day in (date(2025, 9, 15), date(2025, 9, 16)):
        import_and_run(service, clock, folder, day)
    p1 = service.case(SCHOOL, "P1")
    assert (p1.flow_version, p1.stage) == (old, 2)  # four lates: stage three only under the new
    assert set(versions_recorded(service, "P1")) == {old}
    p3 = service.case(SCHOOL, "P3")
    assert (p3.flow_version, p3.stage, p3.opened_on) == (new, 2, date(2025, 9, 16))
    assert set(versions_recorded(service, "P3")) == {new}
    assert service.case(SCHOOL, "P2").flow_version == old


def test_status_counts_the_open_cases_still_on_an_earlier_version(
    changed: tuple[Service, SimulatedClock, Path],
) -> None:
    service, _, folder = changed
    old = load_flow(OLD_FLOW).version
    [school] = service.status().schools
    assert school.earlier_versions == ((old, 2),)
    result = cli(service, folder, "status")
    assert f"2 open cases still on flow version {old[:12]}, not the school's current" in result.stdout


def test_a_migrated_case_runs_under_the_new_version_from_then_on(
    changed: tuple[Service, SimulatedClock, Path],
) -> None:
    service, clock, folder = changed
    new = service.setup(SCHOOL).flow.version
    import_and_run(service, clock, folder, date(2025, 9, 15))
    moved = cli(
        service, folder, "case", "migrate", SCHOOL, "P1", "--to-version", "current",
        "--by", "a.lead", "--reason", "the trust adopted the revised plan",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.output
    clock.set(local(date(2025, 9, 16), 18))
    import_and_run(service, clock, folder, date(2025, 9, 16))
    p1 = service.case(SCHOOL, "P1")
    assert (p1.flow_version, p1.stage) == (new, 3)  # four lates now count under the new text
    assert versions_recorded(service, "P1")[-1] == new
    replay = json.loads(cli(service, folder, "replay", SCHOOL, "P1", "--json").stdout)
    assert replay["agrees"]
    kinds = [d["kind"] for d in replay["decisions"]]
    assert "migration" in kinds


def test_migrate_all_moves_every_open_case_it_can_and_names_the_rest(
    changed: tuple[Service, SimulatedClock, Path],
) -> None:
    service, _, folder = changed
    new = service.setup(SCHOOL).flow.version
    dry = cli(
        service, folder, "case", "migrate", SCHOOL, "--all", "--to-version", "current",
        "--by", "a.lead", "--reason", "revised plan", "--dry-run",
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "2 open cases would move" in dry.stdout and "nothing written" in dry.stdout
    assert service.status().schools[0].earlier_versions != ()
    result = cli(
        service, folder, "case", "migrate", SCHOOL, "--all", "--to-version", "current",
        "--by", "a.lead", "--reason", "revised plan",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"2 open cases moved to flow version {new[:12]}" in result.stdout
    assert {service.case(SCHOOL, p).flow_version for p in ("P1", "P2")} == {new}
    assert service.status().schools[0].earlier_versions == ()
    again = cli(
        service, folder, "case", "migrate", SCHOOL, "--all", "--to-version", "current",
        "--by", "a.lead", "--reason", "revised plan",
    )  # fmt: skip
    assert "0 open cases moved" in again.stdout


def test_replay_of_every_case_agrees_across_the_change_of_flow(
    changed: tuple[Service, SimulatedClock, Path],
) -> None:
    service, clock, folder = changed
    for day in (date(2025, 9, 15), date(2025, 9, 16), date(2025, 9, 17)):
        import_and_run(service, clock, folder, day)
    result = cli(service, folder, "replay", "--all", "--school", SCHOOL, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["cases"], summary["agrees"], summary["differing"]) == (3, True, [])
    assert cli(service, folder, "audit", "verify").exit_code == 0
