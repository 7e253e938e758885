"""The penalty-notice register in a case's story (issue 15): ``case show``, the case page and
the case file tell each notice (to whom, when, for what, how much) and every change to it,
among the case's records by date."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.bootstrap import page_backend
from escalation_flow.clock import ShiftedClock, SimulatedClock
from escalation_flow.service import Service
from escalation_flow.web.app import create_app
from escalation_flow.web.settings import WebSettings
from tests.e2e.test_penalty_notices import (
    DAD,
    FIRST,
    MUM,
    PUPIL,
    SCHOOL,
    SECOND,
    record,
    run,
    world,
)
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import NOW, World

__all__ = ["world"]  # the fixture, shared with the register's own tests


def _paid_and_second(world: World) -> None:
    assert record(world, MUM, FIRST, "2025-09-20").exit_code == 0
    assert record(world, DAD, FIRST, "2025-09-20").exit_code == 0
    paid = run(world, "penalty-notices", "update", "1", "--status", "paid", "--by", "lead3",
               "--note", "paid at the office")  # fmt: skip
    assert paid.exit_code == 0, paid.output


def test_case_show_tells_each_notice_and_its_changes_with_the_parent_by_name(world: World) -> None:
    _paid_and_second(world)
    shown = run(world, "case", "show", SCHOOL, PUPIL)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "PN  2025-09-20  Penalty notice 1 issued on 2025-09-20 to Amy Khan (" in out
    assert "contact C-1180): unauthorised absence, 10 sessions: 2025-09-15 AM and PM (O)" in out
    assert "£80 within 21 days, £160 within 28" in out
    assert (
        "Penalty notice 1 (issued to Amy Khan" in out
        and "now paid; note: paid at the office" in out
    )
    assert "Penalty notice 2 issued on 2025-09-20 to Adam Khan" in out
    assert "[by lead3, recorded" in out


def test_the_case_file_holds_every_notice_and_change_with_who_and_when(
    world: World, tmp_path: Path
) -> None:
    _paid_and_second(world)
    out = tmp_path / "file.json"
    made = run(world, "case", "export", SCHOOL, PUPIL, "--format", "json", "--out", str(out))
    assert made.exit_code == 0, made.output
    entries = json.loads(out.read_text())["entries"]
    notices = [e for e in entries if e["type"] == "penalty_notice"]
    assert [e["category"] for e in notices] == ["penalty notice"] * 3
    first = notices[0]
    assert first["on"] == "2025-09-20" and first["who"] == "lead3"
    assert "Penalty notice 1 issued on Saturday 20 September 2025 to Amy Khan" in first["what"]
    assert "Monday 15 September 2025 AM and PM (O)" in first["what"]
    assert "now paid; note: paid at the office" in notices[2]["what"]
    # in date order with the rest: nothing dated after the first notice comes before it
    ons = [e["on"] for e in entries]
    at = entries.index(first)
    assert all(on <= "2025-09-20" for on in ons[:at])


def test_the_case_page_tells_the_notices_to_whoever_reads_the_pupil(world: World) -> None:
    _paid_and_second(world)
    with pages(world) as client:
        assert login(client, "lead3") == 303
        page = client.get(f"/schools/{SCHOOL}/pupils/{PUPIL}")
        assert page.status_code == 200
        assert "Penalty notice 1 issued" in page.text and "Penalty notice 1: Paid" in page.text
        assert "to Amy Khan (" in page.text and "£80 within 21 days" in page.text
    with pages(world) as client:
        assert login(client, "teacher3") == 303  # Year 3 only: Priya (Year 1) is not theirs
        assert client.get(f"/schools/{SCHOOL}/pupils/{PUPIL}").status_code == 404


# -- issue 16: check says first whether a notice may be considered for the child at all --------


def test_check_says_no_notice_may_be_considered_for_a_child_below_compulsory_school_age(
    world: World,
) -> None:
    # Olivia Nowak, Reception, born 6 August 2021: of compulsory school age from 1 September 2026
    out = run(world, "penalty-notices", "check", SCHOOL, "S03-P0009").stdout
    assert "NO penalty notice may be considered for pupil S03-P0009" in out
    assert "NOT of compulsory school age on 2025-10-10 (born 2021-08-06" in out
    assert "Chloe Nowak (C-1164): the per-parent rules would allow one" in out
    assert "a penalty notice may be issued" not in out


def test_check_says_no_notice_may_be_considered_below_the_national_threshold(world: World) -> None:
    # Willow Lewis, Year 6: of compulsory school age, with few unauthorised sessions
    out = run(world, "penalty-notices", "check", SCHOOL, "S03-P0001").stdout
    assert "NO penalty notice may be considered for pupil S03-P0001" in out
    assert "  of compulsory school age on 2025-10-10 (born 2015-08-27" in out
    assert "does NOT meet the national threshold of 10" in out
    assert "Jade Lewis (C-1156): the per-parent rules would allow one" in out
    assert "a penalty notice may be issued" not in out


def test_check_says_a_notice_may_be_considered_where_the_threshold_is_met(world: World) -> None:
    out = run(world, "penalty-notices", "check", SCHOOL, PUPIL).stdout
    assert f"a penalty notice may be considered for pupil {PUPIL}:" in out
    assert (
        "34 sessions of unauthorised absence (G, N, O, U) of compulsory school age in the 10 "
        "school weeks to 2025-10-10: meets the national threshold of 10" in out
    )
    assert "Amy Khan (C-1180): a penalty notice may be issued" in out


def test_recording_for_a_child_below_compulsory_school_age_names_the_date_of_birth_rule(
    world: World,
) -> None:
    refused = run(world, "penalty-notices", "record", SCHOOL, "S03-P0009", "--parent", "C-1164",
                  "--offence", "unauthorised_absence", "--session", "2025-09-18:PM",
                  "--issued", "2025-10-01", "--by", "lead3")  # fmt: skip
    assert refused.exit_code == 2
    assert "born 2021-08-06" in refused.stderr
    assert "whichever comes first after the fifth birthday" in refused.stderr


# -- the /penalty-notices page under `serve --today` -----------------------------------------


def test_the_register_page_on_a_shifted_today_shows_notices_recorded_since_by_parent_name(
    world: World,
) -> None:
    assert record(world, MUM, FIRST, "2025-09-20").exit_code == 0  # recorded on 10 October
    assert record(world, DAD, SECOND, "2025-10-08").exit_code == 0  # issued after the demo day
    demo_day = date(2025, 10, 1)
    store = Store(world.url)
    try:
        clock = ShiftedClock(SimulatedClock(NOW), demo_day, "Europe/London")
        service = Service(store, world.trust(), clock, worker="test")
        app = create_app(lambda: page_backend(service), WebSettings(today=demo_day))  # type: ignore[arg-type]
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            assert login(client, "lead3") == 303
            page = client.get(f"/penalty-notices?school={SCHOOL}")
    finally:
        store.dispose()
    assert page.status_code == 200
    assert "1 notice, each as it stands now" in page.text
    assert "Amy Khan (mother)" in page.text and "Adam Khan" not in page.text
    assert ">C-1180<" not in page.text
