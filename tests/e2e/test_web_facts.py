"""The pages' facts are the service's, as known now, counted as a case's flow version counts
them (``web/register_now``): a version that asks more sessions before a percentage is known
shows the percentage as not known yet, where the school's current flow shows a number."""

from __future__ import annotations

import math
from pathlib import Path

from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.store import Store
from escalation_flow.core.definition import Flow
from escalation_flow.web.register_now import facts_known_now, register_known_now
from escalation_flow.web.school_data import SchoolAsOf
from tests.e2e.web_world import NOW, TODAY, new_world

SCHOOL = "school-01"
PUPIL = "S01-P0007"


def _stricter(flow_path: Path, folder: Path) -> Flow:
    """The school's flow asking 1,000 possible sessions before attendance is known."""
    text = flow_path.read_text(encoding="utf-8")
    assert "\nmin_possible_sessions: 30\n" in text
    path = folder / "stricter.yaml"
    path.write_text(text.replace("\nmin_possible_sessions: 30\n", "\nmin_possible_sessions: 1000\n"))
    return load_flow(path)


def test_facts_are_counted_as_the_cases_flow_version_counts_them(tmp_path: Path) -> None:
    world = new_world(tmp_path)
    store = Store(world.url)
    try:
        service = world.service(store)
        setup = service.setup(SCHOOL)
        index = setup.calendar.index_on_or_before(TODAY)
        register = register_known_now(service, SCHOOL, NOW, index)
        stricter = _stricter(setup.config.flow_path, tmp_path)

        current = facts_known_now(register, index, setup.flow).row(PUPIL)
        earlier = facts_known_now(register, index, stricter).row(PUPIL)
        assert not math.isnan(current["attendance_pct"])
        assert math.isnan(earlier["attendance_pct"])

        # The daemon's evening and morning read the very same facts (one ``KnownFacts``).
        assert register.facts(index, stricter) is facts_known_now(register, index, stricter)
        assert register.morning_facts(index + 1, setup.flow) is register.facts(index)

        shown = SchoolAsOf(SCHOOL, setup.calendar, index, register, None, register.roster)
        values = shown.facts_of(PUPIL, stricter)
        assert values is not None and math.isnan(values["attendance_pct"])
    finally:
        store.dispose()
