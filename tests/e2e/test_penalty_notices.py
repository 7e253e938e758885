"""The penalty-notice register as staff meet it: ``penalty-notices record|update|list|check``,
the facts an evening reads (as known at its cut-off), ``case show``'s lines for each parent,
and the ``/penalty-notices`` page, each checked against who is acting (issue 16, part 3)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.audit.inputs import AuditSource
from escalation_flow.audit.knowledge import Cut
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.service.register import RegisterAsKnown
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import NOW, TRUST_DIR, World, new_world

#: Priya Khan (school-03, Year 1): separated parents, both with parental responsibility, and
#: (amended here) every session from 15 September to 3 October 2025 marked O (unknown reason):
#: three school weeks, each meeting the national threshold of 10 sessions on its own
SCHOOL, PUPIL, MUM, DAD = "school-03", "S03-P0017", "C-1180", "C-1181"
FIRST, SECOND, THIRD = "2025-09-15..2025-09-19", "2025-09-22..2025-09-26", "2025-09-29..2025-10-03"
ABSENT = [d for i in range(19) if (d := date(2025, 9, 15) + timedelta(days=i)).weekday() < 5]


@pytest.fixture
def world(tmp_path: Path) -> World:
    made = new_world(tmp_path)
    amended = tmp_path / "amended.csv"
    amended.write_text(
        "school,pupil,date,session,code,minutes_late,recorded_at\n"
        + "".join(
            f"{SCHOOL},{PUPIL},{d},{half},O,,2025-10-09T10:00:00+01:00\n"
            for d in ABSENT
            for half in ("AM", "PM")
        ),
        encoding="utf-8",
    )
    trust = made.trust()
    store = Store(made.url)
    try:
        marks = read_marks(amended, trust.calendars(), aliases=trust.aliases)
        store.import_marks(marks, file=Path("amended.csv"), now=NOW - timedelta(days=1), by="test")
    finally:
        store.dispose()
    return made


def run(world: World, *args: str, now: datetime = NOW) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
    }
    return CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(now)))


def record(world: World, parent: str, day: str, issued: str, *, by: str = "lead3",
           now: datetime = NOW) -> Result:  # fmt: skip
    return run(world, "penalty-notices", "record", SCHOOL, PUPIL, "--parent", parent,
               "--offence", "unauthorised_absence", "--session", day, "--issued", issued,
               "--by", by, now=now)  # fmt: skip


def test_a_class_teacher_may_not_record_a_notice_and_nothing_is_written(world: World) -> None:
    refused = record(world, MUM, FIRST, "2025-09-20", by="teacher3")
    assert refused.exit_code == 2
    assert "teacher3 may not record a penalty notice at school-03" in refused.stderr
    assert record(world, MUM, FIRST, "2025-09-20", by="auditor").exit_code == 2
    assert record(world, MUM, FIRST, "2025-09-20", by="lead").exit_code == 2  # school-01's lead
    assert run(world, "penalty-notices", "list").stdout == "no notices recorded\n"


def test_record_refuses_a_third_and_the_same_sessions_for_one_parent_but_not_the_other(
    world: World,
) -> None:
    first = record(world, MUM, FIRST, "2025-09-20")
    assert first.exit_code == 0, first.output
    assert "£80 within 21 days, £160 within 28" in first.stdout
    same = record(world, MUM, FIRST, "2025-10-01")
    assert same.exit_code == 2 and "cannot found a second notice" in same.stderr
    assert record(world, DAD, FIRST, "2025-09-20").exit_code == 0  # the other parent may
    second = record(world, MUM, SECOND, "2025-10-01")
    assert "£160 within 28 days (a second notice: no reduction)" in second.stdout
    third = record(world, MUM, THIRD, "2025-10-08")
    assert third.exit_code == 2
    assert "a third cannot be issued; prosecution" in third.stderr
    # illness is never grounds: 2025-09-09 is not marked as an unauthorised absence
    assert record(world, DAD, "2025-09-09", "2025-10-01").exit_code == 2
    listed = [json.loads(x) for x in run(world, "penalty-notices", "list", "--json").stdout.split("\n") if x]
    assert [(n["notice"], n["parent"], n["amount_reduced"]) for n in listed] == [
        (1, MUM, 80), (2, DAD, 80), (3, MUM, None)
    ]  # fmt: skip
    assert listed[0]["sessions"][0] == {"date": "2025-09-15", "session": "AM", "mark": "O"}


def test_a_withdrawn_notice_is_a_new_version_and_counts_no_more(world: World) -> None:
    record(world, MUM, FIRST, "2025-09-20")
    record(world, MUM, SECOND, "2025-10-01")
    updated = run(world, "penalty-notices", "update", "1", "--status", "withdrawn",
                  "--by", "lead3", "--note", "issued in error")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert "withdrawn" in updated.stdout and "(v2, lead3)" in updated.stdout
    again = run(world, "penalty-notices", "update", "1", "--status", "paid", "--by", "lead3")
    assert again.exit_code == 2 and "which is final" in again.stderr
    assert record(world, MUM, THIRD, "2025-10-08").exit_code == 0
    shown = run(world, "penalty-notices", "show", "1").stdout
    assert "  v1 issued recorded" in shown and "v2 withdrawn" in shown and "issued in error" in shown


def test_the_evening_reads_the_register_as_known_at_its_cut_off(world: World) -> None:
    before = NOW - timedelta(minutes=1)
    for parent in (MUM, DAD):
        record(world, parent, FIRST, "2025-09-20")
        record(world, parent, SECOND, "2025-10-01")
    store = Store(world.url)
    try:
        service = world.service(store)
        setup = service.setup(SCHOOL)
        day = setup.calendar.day_index(NOW.date())

        def facts(known_at: datetime) -> dict[str, float]:
            register = RegisterAsKnown.load(store, setup, known_at, day)
            return register.facts(day).row(PUPIL)

        assert facts(before)["penalty_notice_allowed_for_any_parent"] == 1.0
        now = facts(NOW)
        assert now["penalty_notice_allowed_for_any_parent"] == 0.0
        assert now["penalty_notices_last_3_years_max"] == 2.0
        assert facts(NOW)["notice_to_improve_within_12_months"] == 0.0
        other = RegisterAsKnown.load(store, setup, NOW, day).facts(day).row("S03-P0005")
        assert other["penalty_notice_allowed_for_any_parent"] == 1.0  # no notices: none forbidden
        standings = service.penalty_notices.for_case(SCHOOL, PUPIL, "", ["consider_penalty_notice"])
        assert standings is not None and [s.allowed for s in standings] == [False, False]
        assert service.penalty_notices.for_case(SCHOOL, PUPIL, "", ["formal_attendance_meeting"]) is None
    finally:
        store.dispose()


def test_replay_reads_the_register_as_known_at_each_cut(world: World) -> None:
    for parent in (MUM, DAD):
        record(world, parent, FIRST, "2025-09-20")
        record(world, parent, SECOND, "2025-10-01")
    store = Store(world.url)
    try:
        source = AuditSource(store, world.trust()).case(SCHOOL, PUPIL)
        day = source.calendar.day_index(NOW.date())

        def allowed(known_at: datetime) -> float:
            return source.register.facts(Cut(known_at), day, 20).row(PUPIL)[
                "penalty_notice_allowed_for_any_parent"
            ]

        assert allowed(NOW - timedelta(minutes=1)) == 1.0
        assert allowed(NOW) == 0.0
    finally:
        store.dispose()


def test_check_says_for_each_parent_whether_a_notice_may_be_issued(world: World) -> None:
    record(world, MUM, FIRST, "2025-09-20")
    record(world, MUM, SECOND, "2025-10-01")
    out = run(world, "penalty-notices", "check", SCHOOL, PUPIL).stdout
    assert "Amy Khan (C-1180): NO penalty notice: parent C-1180 has had 2" in out
    assert "Adam Khan (C-1181): a penalty notice may be issued: no penalty notice" in out


def test_the_register_page_lists_notices_only_for_pupils_the_viewer_may_read(world: World) -> None:
    record(world, MUM, FIRST, "2025-09-20")
    with pages(world) as client:
        assert login(client, "lead3") == 303
        page = client.get("/penalty-notices?school=school-03")
        assert page.status_code == 200
        assert "Priya Khan" in page.text and "2025-09-15 AM (O)" in page.text
        assert "£80 within 21 days" in page.text
        assert 'href="/penalty-notices" aria-current="page"' in page.text  # in the main menu
    with pages(world) as client:
        assert login(client, "teacher3") == 303  # Year 3 only; Priya is in Year 1
        page = client.get("/penalty-notices")
        assert page.status_code == 200 and "Priya" not in page.text
        assert "No notices recorded" in page.text
    with pages(world) as client:
        assert login(client, "lead") == 303  # school-01's lead: school-03 is not theirs
        assert client.get("/penalty-notices?school=school-03").status_code == 404


def test_a_notice_on_sessions_short_of_the_national_threshold_is_refused(world: World) -> None:
    # 8 and 12 September: four sessions marked O, and 25 September's afternoon: five in all
    short = record(world, MUM, "2025-09-08", "2025-09-20")
    assert short.exit_code == 2
    assert "10 sessions of unauthorised absence within a rolling 10 school weeks" in short.stderr
    nine = run(world, "penalty-notices", "record", SCHOOL, PUPIL, "--parent", MUM, "--offence",
               "unauthorised_absence", "--session", "2025-09-15..2025-09-18", "--session",
               "2025-09-19:AM", "--issued", "2025-09-20", "--by", "lead3")  # fmt: skip
    assert nine.exit_code == 2 and "the 9 session(s) named do not meet it" in nine.stderr
    assert run(world, "penalty-notices", "list").stdout == "no notices recorded\n"


def test_a_notice_for_a_child_below_compulsory_school_age_is_refused(world: World) -> None:
    # Olivia Nowak, Reception, born 6 August 2021: five in August 2026, of compulsory school
    # age from the term after (1 September 2026)
    refused = run(world, "penalty-notices", "record", SCHOOL, "S03-P0009", "--parent", "C-1164",
                  "--offence", "unauthorised_absence", "--session", "2025-09-18:PM",
                  "--issued", "2025-10-01", "--by", "lead3")  # fmt: skip
    assert refused.exit_code == 2
    assert "of compulsory school age from 2026-09-01" in refused.stderr
    assert run(world, "penalty-notices", "list").stdout == "no notices recorded\n"


def test_a_notice_issued_after_today_is_refused(world: World) -> None:
    refused = record(world, MUM, FIRST, "2025-10-11")  # today is 10 October 2025
    assert refused.exit_code == 2 and "is after today (2025-10-10)" in refused.stderr
    assert record(world, MUM, FIRST, "2025-10-10").exit_code == 0


def test_a_notice_dated_before_one_already_recorded_to_the_parent_is_refused(world: World) -> None:
    assert record(world, MUM, SECOND, "2025-10-01").exit_code == 0
    earlier = record(world, MUM, FIRST, "2025-09-20")
    assert earlier.exit_code == 2
    assert "would leave notice 1's amount wrong" in earlier.stderr
    assert "penalty-notices update 1 --status withdrawn" in earlier.stderr
    assert record(world, DAD, FIRST, "2025-09-20").exit_code == 0  # the other parent's own
    # the way out: withdraw the later, record the earlier, then the later again as a second
    run(world, "penalty-notices", "update", "1", "--status", "withdrawn", "--by", "lead3")
    assert record(world, MUM, FIRST, "2025-09-20").exit_code == 0
    again = record(world, MUM, SECOND, "2025-10-01")
    assert "£160 within 28 days (a second notice: no reduction)" in again.stdout
    listed = [json.loads(x) for x in run(world, "penalty-notices", "list", "--json").stdout.split("\n") if x]
    assert [(n["parent"], n["issued_on"], n["amount_reduced"]) for n in listed if n["status"] != "withdrawn"] == [
        (DAD, "2025-09-20", 80), (MUM, "2025-09-20", 80), (MUM, "2025-10-01", None)
    ]  # fmt: skip


def test_a_schools_evening_with_notices_reads_the_trusts_contacts_once(world: World) -> None:
    """Its family facts and its notices' facts (the parents with parental responsibility) from
    one read of the trust's contacts, not one each."""
    for parent in (MUM, DAD):
        record(world, parent, FIRST, "2025-09-20")
    store = Store(world.url)
    try:
        service = world.service(store)
        reads = []
        read = store.contact_versions

        def counted() -> list[ContactVersion]:
            reads.append(1)
            return read()

        store.contact_versions = counted  # type: ignore[method-assign]
        report = service.run_day(SCHOOL, NOW.date(), force=True)
        assert not report.skipped
        assert len(reads) == 1
        register = RegisterAsKnown.load(store, service.setup(SCHOOL), NOW, 0)
        assert register.notices is not None and register.notices.responsible[PUPIL] == (MUM, DAD)
    finally:
        store.dispose()
