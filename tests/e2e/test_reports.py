"""The termly targeting report and the local authority's monthly notifications (issue 16, parts
4-5), on the pages' small world (the sample trust run to 10 October 2025): the service, the
command line, the PDFs as read back by poppler, and the staff page with its access rules."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.actors import Actors
from escalation_flow.adapters.report_files import (
    LA_MONTHLY_COLUMNS,
    TARGETING_COLUMNS,
    la_monthly_csv,
    targeting_csv,
)
from escalation_flow.adapters.report_pdf import la_monthly_pdf, targeting_pdf
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.report_store import SqlReportRecords
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.bootstrap import Root, report_desk
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.errors import ActionError, CalendarError, InputError
from escalation_flow.report_ports import ACTION_AGREED, NOTIFICATION_SENT
from escalation_flow.service.reports import Reports
from tests.e2e.web_client import csrf, login, pages
from tests.e2e.web_world import NOW, TRUST_DIR, World, new_world

SCHOOL = "school-01"
LISTED = ["S01-P0007", "S01-P0029", "S01-P0019", "S01-P0023", "S01-P0004"]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


def desk(world: World, store: Store) -> Reports:
    """Reports as the composition builds them, with the store's staff table checking names."""
    service = world.service(store)
    return Reports(service.ctx, Actors(StaffStore(store.engine)), SqlReportRecords(store.engine))


def test_the_targeting_list_names_the_absent_pupils_with_figures_case_stage_and_siblings_seam(
    world: World,
) -> None:
    store = Store(world.url)
    try:
        report = desk(world, store).targeting(SCHOOL, "autumn-2025")
    finally:
        store.dispose()
    assert report.as_of.isoformat() == "2025-10-10"
    assert [r.pupil for r in report.rows] == LISTED
    first = report.rows[0]
    assert (first.listed, first.severe, first.case_status, first.stage) == (
        "severely absent", True, "open", 5,
    )  # fmt: skip
    assert first.attendance_pct is not None and first.attendance_pct <= 50
    assert first.projected_pct is not None and first.trend is not None
    assert all(r.siblings == "—" for r in report.rows)  # no SiblingDirectory handed in here
    assert all(r.persistent for r in report.rows)


def test_actions_agreed_this_term_show_on_next_terms_list_and_are_audit_logged(
    world: World,
) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        reports.record_action(SCHOOL, "autumn-2025", "S01-P0007", "FLO home visit weekly", "lead")
        # A pupil not on the list this term, followed up next term all the same.
        reports.record_action(
            SCHOOL, "autumn-2025", "S01-P0001", "Check in after half term", "lead"
        )
        autumn = reports.targeting(SCHOOL, "autumn-2025")
        spring = reports.targeting(SCHOOL, "spring-2026")
        entries = StaffStore(store.engine).audit_entries(action=ACTION_AGREED)
    finally:
        store.dispose()
    row = {r.pupil: r for r in autumn.rows}["S01-P0007"]
    assert [a.action for a in row.agreed_this_term] == ["FLO home visit weekly"]
    assert row.agreed_this_term[0].by == "lead" and row.agreed_this_term[0].at == NOW
    assert spring.previous_term == "autumn-2025"
    later = {r.pupil: r for r in spring.rows}
    assert [a.action for a in later["S01-P0007"].agreed_last_term] == ["FLO home visit weekly"]
    assert later["S01-P0001"].listed == "actions agreed last term"
    assert {(e.actor, e.pupil) for e in entries} == {("lead", "S01-P0007"), ("lead", "S01-P0001")}


def test_an_agreed_action_needs_a_member_of_staff_a_known_pupil_and_a_term_of_the_calendar(
    world: World,
) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        with pytest.raises(ActionError, match="not a member of staff"):
            reports.record_action(SCHOOL, "autumn-2025", "S01-P0007", "visit", "x.nobody")
        with pytest.raises(ActionError, match="system actor"):
            reports.record_action(SCHOOL, "autumn-2025", "S01-P0007", "visit", "auto")
        with pytest.raises(CalendarError, match="autumn-2025"):
            reports.record_action(SCHOOL, "autumn-25", "S01-P0007", "visit", "lead")
        with pytest.raises(InputError, match="empty"):
            reports.record_action(SCHOOL, "autumn-2025", "S01-P0007", "   ", "lead")
        assert SqlReportRecords(store.engine).agreed_actions(SCHOOL, ["autumn-2025"]) == []
    finally:
        store.dispose()


def test_la_monthly_lists_ten_consecutive_days_and_illness_and_is_listed_as_sent_after(
    world: World,
) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        september = reports.la_monthly(SCHOOL, "2025-09")
        sent = reports.record_sent(september, la_monthly_csv(september), "lead")
        again = reports.la_monthly(SCHOOL, "2025-09")
        october = reports.la_monthly(SCHOOL, "2025-10")
        entries = StaffStore(store.engine).audit_entries(action=NOTIFICATION_SENT)
    finally:
        store.dispose()
    (row,) = september.rows
    assert (row.pupil, row.reason) == (
        "S01-P0029",
        "10 consecutive school days of unauthorised absence",
    )
    assert row.detail == "10 school days, 2025-09-03 to 2025-09-16"
    assert row.sent_at is None
    assert sent.pupils == ("S01-P0029",) and len(sent.digest) == 64
    assert (again.rows[0].sent_by, again.rows[0].sent_at) == ("lead", NOW)
    assert [s.by for s in again.sent] == ["lead"]
    assert [(r.pupil, r.reason) for r in october.rows] == [
        ("S01-P0007", "expected to miss 15 school days through illness")
    ]
    assert october.rows[0].sent_at is None
    assert [e.detail for e in entries] == [f"2025-09: 1 pupils, sha256 {sent.digest}"]


def test_a_month_is_written_yyyy_mm_and_must_have_begun(world: World) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        with pytest.raises(InputError, match="YYYY-MM"):
            reports.la_monthly(SCHOOL, "Sept 2025")
        with pytest.raises(CalendarError, match="no school day on or before"):
            reports.la_monthly(SCHOOL, "2025-11")
    finally:
        store.dispose()


def _pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").split())


@pytest.mark.needs_program("pdftotext")
def test_both_reports_render_as_pdfs_that_read_back(world: World, tmp_path: Path) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        reports.record_action(SCHOOL, "autumn-2025", "S01-P0007", "Weekly FLO check-in", "lead")
        targeting = reports.targeting(SCHOOL, "autumn-2025")
        monthly = reports.la_monthly(SCHOOL, "2025-09")
    finally:
        store.dispose()
    text = _pdf_text(targeting_pdf(targeting), tmp_path, "t.pdf")
    assert "Termly targeting meeting: Synthetic School 01, autumn-2025" in text
    assert "S01-P0007 Adam Harris" in text and "severely absent" in text
    assert "Weekly FLO" in text and "Projected year end" in text
    text = _pdf_text(la_monthly_pdf(monthly), tmp_path, "l.pdf")
    assert "Notification to the local authority: Synthetic School 01, 2025-09" in text
    assert "S01-P0029" in text and "10 school days, 2025-09-03 to 2025-09-16" in text
    assert "not yet sent" in text


# -- the command line ------------------------------------------------------------------------------


def cli(world: World, *args: str) -> tuple[int, bytes, str]:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": world.url,
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST_DIR / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(main, list(args), env=env, obj=Root(SimulatedClock(NOW)))
    return result.exit_code, result.stdout_bytes, result.stderr


def test_report_commands_write_the_contracts_csvs_and_record_sent(
    world: World, tmp_path: Path
) -> None:
    store = Store(world.url)
    try:
        StaffStore(store.engine)  # the world's staff table holds "lead"
    finally:
        store.dispose()
    code, out, err = cli(world, "report", "targeting-action", "--school", SCHOOL, "--term",
                         "autumn-2025", "--pupil", "S01-P0029", "--action", "Panel in November",
                         "--by", "lead")  # fmt: skip
    assert code == 0, err
    code, out, err = cli(world, "report", "targeting", "--school", SCHOOL, "--term", "autumn-2025",
                         "--format", "csv")  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8"))))
    assert tuple(rows[0]) == TARGETING_COLUMNS
    assert [r["pupil"] for r in rows] == LISTED
    assert rows[1]["actions_agreed_this_term"] == "2025-10-10 lead: Panel in November"
    assert rows[0]["stage"] == "5" and rows[0]["siblings"] == "—"
    target = tmp_path / "la.csv"
    code, out, err = cli(world, "report", "la-monthly", "--school", SCHOOL, "--month", "2025-09",
                         "--out", str(target), "--record-sent", "--by", "lead")  # fmt: skip
    assert code == 0, err
    assert "recorded as sent: school-01 2025-09, 1 pupils, by lead" in err
    sent = list(csv.DictReader(io.StringIO(target.read_text("utf-8"))))
    assert tuple(sent[0]) == LA_MONTHLY_COLUMNS and sent[0]["sent_at"] == ""
    code, out, err = cli(world, "report", "la-monthly", "--school", SCHOOL, "--month", "2025-09")
    after = list(csv.DictReader(io.StringIO(out.decode("utf-8"))))
    assert (after[0]["sent_by"], after[0]["sent_at"]) == ("lead", "2025-10-10T18:00:00+00:00")
    code, out, err = cli(world, "report", "la-monthly", "--school", SCHOOL, "--month", "2025-09",
                         "--record-sent")  # fmt: skip
    assert code == 2 and "--by" in err
    code, out, err = cli(world, "report", "targeting", "--school", SCHOOL, "--term", "autumn-2025")
    assert code == 0 and "S01-P0007 Adam Harris (year 4): severely absent" in out.decode()


def test_recorded_actions_and_notifications_leave_the_audit_chain_whole(world: World) -> None:
    code, _, err = cli(world, "report", "targeting-action", "--school", SCHOOL, "--term",
                       "autumn-2025", "--pupil", "S01-P0029", "--action", "Panel in November",
                       "--by", "lead")  # fmt: skip
    assert code == 0, err
    code, _, err = cli(world, "report", "la-monthly", "--school", SCHOOL, "--month", "2025-09",
                       "--record-sent", "--by", "lead")  # fmt: skip
    assert code == 0, err
    code, out, err = cli(world, "audit", "verify")
    assert code == 0, out.decode() + err


def test_the_csvs_neutralise_cells_a_spreadsheet_would_run(world: World) -> None:
    store = Store(world.url)
    try:
        reports = desk(world, store)
        reports.record_action(SCHOOL, "autumn-2025", "S01-P0007", '=HYPERLINK("x")', "lead")
        data = targeting_csv(reports.targeting(SCHOOL, "autumn-2025")).decode("utf-8")
    finally:
        store.dispose()
    assert "lead: =HYPERLINK" in data  # inside a cell that starts with the date: harmless
    assert ",=" not in data


# -- the page -------------------------------------------------------------------------------------


def test_the_page_lists_records_and_downloads_for_the_schools_lead(world: World) -> None:
    with pages(world) as client:
        assert login(client, "lead") == 303
        page = client.get(f"/schools/{SCHOOL}/targeting?term=autumn-2025")
        assert page.status_code == 200
        assert all(p in page.text for p in LISTED)
        token = csrf(client, f"/schools/{SCHOOL}/targeting?term=autumn-2025")
        posted = client.post(
            f"/schools/{SCHOOL}/targeting/actions",
            data={"csrf_token": token, "term": "autumn-2025", "pupil": "S01-P0019",
                  "action": "Attendance panel with the LA officer"},
        )  # fmt: skip
        assert posted.status_code == 303
        page = client.get(posted.headers["location"])
        assert "Attendance panel with the LA officer" in page.text and "(lead," in page.text
        pdf = client.get(f"/schools/{SCHOOL}/targeting.pdf?term=autumn-2025")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        data = client.get(f"/schools/{SCHOOL}/targeting.csv?term=autumn-2025").text
        assert "Attendance panel with the LA officer" in data


def test_the_page_respects_school_access_year_groups_and_read_only_roles(world: World) -> None:
    with pages(world) as client:
        assert login(client, "teacher3") == 303  # a class teacher at school-03
        assert client.get(f"/schools/{SCHOOL}/targeting").status_code == 404
        assert client.get(f"/schools/{SCHOOL}/targeting.csv").status_code == 404
    with pages(world) as client:
        assert login(client, "teacher") == 303  # school-01, year 3 only: none of the list
        page = client.get(f"/schools/{SCHOOL}/targeting?term=autumn-2025")
        assert page.status_code == 200
        assert not any(p in page.text for p in LISTED)
    with pages(world) as client:
        assert login(client, "auditor") == 303
        page = client.get(f"/schools/{SCHOOL}/targeting?term=autumn-2025")
        assert "S01-P0007" in page.text and 'name="action"' not in page.text
        token = csrf(client, f"/schools/{SCHOOL}/targeting?term=autumn-2025")
        refused = client.post(
            f"/schools/{SCHOOL}/targeting/actions",
            data={"csrf_token": token, "term": "autumn-2025", "pupil": "S01-P0007",
                  "action": "anything"},
        )  # fmt: skip
        assert refused.status_code == 403


# -- the siblings column (the contacts' families) -------------------------------------------------

#: Ava Wood (school-01, Year 3) and Mason Wood (school-02) share a mother in the sample contacts.
AVA, MASON_LINE = "S01-P0001", "Mason Wood (S02-P0002) at school-02, year 3, born 2018-06-13"
HIDDEN = "a sibling at another school in the trust"


def _with_ava_listed(world: World) -> None:
    """An action agreed for Ava this term puts her on the list."""
    store = Store(world.url)
    try:
        desk(world, store).record_action(SCHOOL, "autumn-2025", AVA, "Check in weekly", "lead")
    finally:
        store.dispose()


def test_the_siblings_column_names_a_sibling_at_another_school_only_to_whom_may_read_it(
    world: World,
) -> None:
    _with_ava_listed(world)
    store = Store(world.url)
    try:
        reports = report_desk(world.service(store))  # as the command line and the pages build it
        whole = reports.targeting(SCHOOL, "autumn-2025")
        every = list(world.trust().schools)
        trust_wide = reports.targeting(SCHOOL, "autumn-2025", visible_schools=every)
        one_school = reports.targeting(SCHOOL, "autumn-2025", visible_schools=[SCHOOL])
    finally:
        store.dispose()
    for report in (whole, trust_wide):
        line = {r.pupil: r.siblings for r in report.rows}[AVA]
        assert line.startswith(f"{MASON_LINE}: attendance 85.7%"), line
        assert line.endswith("; through Beth Wood")
    assert {r.pupil: r.siblings for r in one_school.rows}[AVA] == HIDDEN
    # pupils without siblings in the contacts keep the dash
    assert {r.siblings for r in one_school.rows if r.pupil != AVA} == {"—"}


def test_report_targeting_on_the_command_line_shows_siblings(world: World) -> None:
    _with_ava_listed(world)
    code, out, err = cli(world, "report", "targeting", "--school", SCHOOL, "--term", "autumn-2025",
                         "--format", "csv")  # fmt: skip
    assert code == 0, err
    rows = {r["pupil"]: r for r in csv.DictReader(io.StringIO(out.decode("utf-8")))}
    assert rows[AVA]["siblings"].startswith(MASON_LINE)


def test_the_page_shows_the_sibling_to_the_trust_team_and_hides_it_from_the_schools_lead(
    world: World,
) -> None:
    _with_ava_listed(world)
    url = f"/schools/{SCHOOL}/targeting?term=autumn-2025"
    with pages(world) as client:
        assert login(client, "trust") == 303
        page = client.get(url)
        assert page.status_code == 200 and "Mason Wood (S02-P0002)" in page.text
    for who in ("lead", "teacher"):  # school-01 only; the teacher has Year 3, Ava's class
        with pages(world) as client:
            assert login(client, who) == 303
            page = client.get(url)
            assert AVA in page.text and HIDDEN in page.text
            assert "Mason Wood" not in page.text and "S02-P0002" not in page.text
        with pages(world) as client:
            assert login(client, who) == 303
            data = client.get(f"/schools/{SCHOOL}/targeting.csv?term=autumn-2025").text
            assert HIDDEN in data and "Mason Wood" not in data
