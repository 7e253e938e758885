"""A school's overrides are written into its flow's text: a flow version of its own, stored and
replayed like any other, and overrides that do not fit the plan are refused naming the trust
file."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.school_flows import school_flow
from escalation_flow.adapters.store.audit_store import flow_from_text
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.errors import TrustConfigError

ROOT = Path(__file__).resolve().parents[2]
OAKS = ROOT / "flows" / "leigh-academy-oaks.yaml"
CALENDAR = ROOT / "config" / "calendars" / "england-2025-26.yaml"


def trust_with(folder: Path, overrides: str) -> Path:
    path = folder / "trust.yaml"
    path.write_text(
        f"""name: t
timezone: Europe/London
schools:
  - id: oaks
    name: Oaks
    flow: {OAKS}
    calendars: [{CALENDAR}]
    letters: draft-only
  - id: elms
    name: Elms
    flow: {OAKS}
    calendars: [{CALENDAR}]
    letters: draft-only
    overrides:
{overrides}
""",
        encoding="utf-8",
    )
    return path


def test_a_school_without_overrides_runs_its_flow_file_as_it_is(tmp_path: Path) -> None:
    trust = load_trust(trust_with(tmp_path, "      stage_2_lates: 2"))
    assert school_flow(trust, "oaks").version == load_flow(OAKS).version


def test_overrides_are_written_into_a_version_of_the_schools_own(tmp_path: Path) -> None:
    trust = load_trust(
        trust_with(
            tmp_path,
            "      stage_2_lates: 2\n"
            "      stage_2_below_pct: {autumn: 95, spring: 96, summer: 96}\n"
            "      min_possible_sessions: 20",
        )
    )
    flow = school_flow(trust, "elms")
    plain = load_flow(OAKS)
    assert flow.version != plain.version
    assert flow.definition.parameters["stage_2_lates"].for_term("autumn") == 2
    below = flow.definition.parameters["stage_2_below_pct"]
    assert (below.for_term("autumn"), below.for_term("summer")) == (95, 96)
    assert flow.definition.min_possible_sessions == 20
    assert flow.definition.parameters["stage_3_lates"] == plain.definition.parameters["stage_3_lates"]
    again = school_flow(load_trust(tmp_path / "trust.yaml"), "elms")
    assert again.version == flow.version  # the same file and overrides: the same version


def test_the_stored_text_of_a_school_version_loads_back_to_the_same_plan(tmp_path: Path) -> None:
    trust = load_trust(trust_with(tmp_path, "      stage_2_lates: 2"))
    flow = school_flow(trust, "elms")
    assert flow.text is not None
    back = flow_from_text(flow.text, flow.version)
    assert back.definition == flow.definition
    assert flow.text.startswith("# leigh-academy-oaks.yaml with ")
    assert "stage_2_lates=2" in flow.text.splitlines()[0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ("      stage_9_lates: 2", "stage_9_lates: not a parameter of it"),
        ("      stage_2_lates: {autumn: 2}", "stage_2_lates"),
    ],
)
def test_overrides_that_do_not_fit_the_plan_are_refused_naming_the_trust_file(
    tmp_path: Path, overrides: str, message: str
) -> None:
    trust = load_trust(trust_with(tmp_path, overrides))
    with pytest.raises(TrustConfigError) as raised:
        school_flow(trust, "elms")
    [problem, *_] = raised.value.problems
    assert problem.file == str(tmp_path / "trust.yaml")
    assert problem.field == "schools.elms.overrides"
    assert message in problem.message
