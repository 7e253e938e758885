"""``backtest --contacts``: family facts read from every school's previous evening, so the schools
of a day run in any order with the same decisions; without family facts in a flow the timeline is
the independent run's, byte for byte; and the statutory social-worker task comes once per run of
unexplained absence."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.cli import main
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.definition import Flow
from tests.register_builders import ROOT, bundled_calendar, mark_table, school_days, whole_days

CAL = bundled_calendar("2025-26")
TINY = ROOT / "tests/data/flows/tiny-example.yaml"
PERIOD = bt.Period(None, date(2025, 11, 28))
AT = datetime(2025, 9, 1, 7, tzinfo=UTC)


def sibling_flow(tmp_path: Path) -> Flow:
    """The tiny example with one more way in: a sibling anywhere in the trust has a case."""
    text = TINY.read_text(encoding="utf-8").replace(
        'when: "attendance_pct < concern_below_pct"',
        'when: "attendance_pct < concern_below_pct or siblings_with_open_cases >= 1"',
        1,
    )
    path = tmp_path / "sibling.yaml"
    path.write_text(text, encoding="utf-8")
    return load_flow(path)


def runs(flow: Flow) -> list[bt.SchoolRun]:
    days = school_days(CAL, date(2025, 9, 3), date(2025, 11, 28))
    absent = [d for d in days if date(2025, 10, 1) <= d <= date(2025, 10, 10)]
    a_rows = whole_days(CAL, "A1", [d for d in days if d not in absent], "/")
    a_rows += whole_days(CAL, "A1", absent, "O")
    a_rows += whole_days(CAL, "A2", days, "/")
    b_rows = whole_days(CAL, "B1", days, "/") + whole_days(CAL, "B2", days, "/")
    return [
        bt.SchoolRun("a", flow, CAL, mark_table(CAL, a_rows, "a")),
        bt.SchoolRun("b", flow, CAL, mark_table(CAL, b_rows, "b")),
    ]


CONTACTS = [
    ContactVersion("a", "A1", "mum", "Ann", "mother", True, AT),
    ContactVersion("b", "B1", "mum", "Ann", "mother", True, AT),
]


def opened_on(result: list[bt.SchoolResult], school: str, pupil: str) -> str | None:
    book = next(r for r in result if r.school == school)
    p = book.pupils.index(pupil)
    events = [d.to_event() for d in book.history.get(p, [])]
    return next((e["date"] for e in events if e["type"] == "case_opened"), None)


def timeline(result: list[bt.SchoolResult]) -> str:
    return bt.dumps(bt.timeline_json(result, header={}))


def test_a_sibling_case_opens_the_evening_after_the_other_school_opened_one(tmp_path: Path) -> None:
    result = bt.run_with_family(runs(sibling_flow(tmp_path)), PERIOD, CONTACTS, auto_complete=True)
    first = opened_on(result, "a", "A1")
    assert first is not None
    next_day = CAL.school_days[CAL.day_index(date.fromisoformat(first)) + 1]
    assert opened_on(result, "b", "B1") == next_day.isoformat()
    assert opened_on(result, "b", "B2") is None  # not a sibling
    assert opened_on(result, "a", "A2") is None


def test_the_schools_of_a_day_run_in_either_order_with_the_same_decisions(tmp_path: Path) -> None:
    flow = sibling_flow(tmp_path)
    forwards = bt.run_with_family(runs(flow), PERIOD, CONTACTS, auto_complete=True)
    backwards = bt.run_with_family(runs(flow)[::-1], PERIOD, CONTACTS, auto_complete=True)
    assert "case_opened" in timeline(forwards)
    assert timeline(forwards) == timeline(backwards)


def test_a_flow_without_family_facts_decides_as_the_independent_run(tmp_path: Path) -> None:
    flow = load_flow(TINY)
    together = bt.run_with_family(runs(flow), PERIOD, CONTACTS, auto_complete=True)
    apart = bt.run_schools(runs(flow), PERIOD, auto_complete=True, workers=1)
    assert "case_opened" in timeline(apart)
    assert timeline(together) == timeline(apart)


def test_the_social_worker_is_notified_on_the_first_day_of_each_run_of_unexplained_absence() -> (
    None
):
    flow = load_flow(TINY)
    days = school_days(CAL, date(2025, 9, 3), date(2025, 10, 24))
    n_days = {date(2025, 9, 15), date(2025, 9, 16), date(2025, 9, 17), date(2025, 10, 6)}
    rows = whole_days(CAL, "A1", [d for d in days if d not in n_days], "/")
    rows += whole_days(CAL, "A1", sorted(n_days - {date(2025, 9, 16)}), "N")
    rows += [("A1", date(2025, 9, 16), "AM", "/", None), ("A1", date(2025, 9, 16), "PM", "N", None)]
    rows += whole_days(CAL, "A2", days, "N")  # no social worker: no task however absent
    run = bt.SchoolRun("a", flow, CAL, mark_table(CAL, rows, "a"))
    contacts = [ContactVersion("a", "A1", "sw", "Sam", "social worker", False, AT)]
    period = bt.Period(None, date(2025, 10, 24))
    [result] = bt.run_with_family([run], period, contacts, auto_complete=False)
    notified = [
        (u.pupil, u.on, u.role) for u in result.universal_tasks if u.task == "notify_social_worker"
    ]
    assert notified == [
        ("A1", date(2025, 9, 15), "designated_safeguarding_lead"),
        ("A1", date(2025, 10, 6), "designated_safeguarding_lead"),
    ]
    [independent] = bt.run_schools([run], period, auto_complete=False, workers=1)
    assert not [u for u in independent.universal_tasks if u.task == "notify_social_worker"]


def test_a_social_worker_recorded_later_is_not_known_before(tmp_path: Path) -> None:
    flow = load_flow(TINY)
    days = school_days(CAL, date(2025, 9, 3), date(2025, 9, 30))
    n_days = [date(2025, 9, 10), date(2025, 9, 12), date(2025, 9, 15), date(2025, 9, 16)]
    n_days.append(date(2025, 9, 24))
    rows = whole_days(CAL, "A1", [d for d in days if d not in n_days], "/")
    rows += whole_days(CAL, "A1", n_days, "N")
    run = bt.SchoolRun("a", flow, CAL, mark_table(CAL, rows, "a"))
    later = datetime(2025, 9, 15, 9, tzinfo=UTC)
    contacts = [ContactVersion("a", "A1", "sw", "Sam", "social worker", False, later)]
    [result] = bt.run_with_family(
        [run], bt.Period(None, date(2025, 9, 30)), contacts, auto_complete=False
    )
    # 10 Sept: not known; 12-15 Sept: one run, known from the 16th (its next day); 24 Sept
    assert [u.on for u in result.universal_tasks if u.task == "notify_social_worker"] == [
        date(2025, 9, 16),
        date(2025, 9, 24),
    ]


@pytest.mark.slow
def test_backtest_contacts_leaves_the_sample_trusts_bytes_alone(tmp_path: Path) -> None:
    trust = ROOT / "config/sample-trust"
    args = [
        "backtest", "--trust", str(trust / "trust.yaml"), "--marks", str(trust / "marks.csv"),
        "--roster", str(trust / "roster.csv"), "--to", "2025-10-24", "--auto-complete-actions",
    ]  # fmt: skip
    plain = CliRunner().invoke(main, [*args, "--json", str(tmp_path / "plain.json")])
    family = CliRunner().invoke(
        main,
        [*args, "--contacts", str(trust / "contacts.csv"), "--json", str(tmp_path / "family.json")],
    )
    assert plain.exit_code == 0, plain.output
    assert family.exit_code == 0, family.output
    assert (tmp_path / "plain.json").read_bytes() == (tmp_path / "family.json").read_bytes()


def test_backtest_contacts_refuses_a_bad_file_naming_the_line(tmp_path: Path) -> None:
    trust = ROOT / "config/sample-trust"
    bad = tmp_path / "contacts.csv"
    bad.write_text(
        "school,pupil,contact,name,relationship,parental_responsibility\n"
        "school-01,S01-P0001,C-1,Ann,mother,maybe\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main,
        [
            "backtest", "--trust", str(trust / "trust.yaml"), "--marks", str(trust / "marks.csv"),
            "--to", "2025-09-12", "--contacts", str(bad),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "contacts.csv:2" in result.output and "parental_responsibility" in result.output
