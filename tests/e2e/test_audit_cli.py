"""The auditor's commands as an auditor runs them, on SQLite files: ``replay --all`` after a
backtest of the sample trust, a mark amended after a letter went out, the case file, ``audit
verify`` and a recorded flow migration."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from escalation_flow import backtest as bt
from escalation_flow.adapters.flow_files import load_flow
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_store import seal_imports, store_flow_version
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.cases import school_id
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.case import Case, apply
from escalation_flow.core.decisions import Decision
from escalation_flow.core.school_day import SchoolCases
from escalation_flow.service import Service
from escalation_flow.stored import ENGINE, CaseChange, StoredCase
from tests.daemon_builders import SCHOOL, built_state, clone, local, write_trust
from tests.staff_builders import add_staff

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config" / "sample-trust"
LONDON = ZoneInfo("Europe/London")
BACKTEST_TO = date(2025, 10, 24)  # the first half of the autumn term


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def settings(url: str, trust: Path) -> dict[str, str]:
    return {
        "ESCALATION_FLOW_DATABASE_URL": url,
        "ESCALATION_FLOW_TRUST_FILE": str(trust),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
    }


# -- a backtest of the sample trust, persisted as the daemon would have written it ------------------


def persist(store: Store, trust: Trust, books: list[SchoolCases]) -> int:
    """Each school day's decisions written that evening at 18:00, one transaction a day."""
    written = 0
    with store.engine.begin() as conn:
        for book in books:
            flow = book.ctx.flow
            store_flow_version(conn, flow, local(book.ctx.calendar.first_day, 7))
            sid = school_id(conn, book.school)
            held: dict[str, StoredCase] = {}
            by_day: dict[date, dict[str, list[Decision]]] = {}
            for p, decisions in book.history.items():
                for d in decisions:
                    by_day.setdefault(d.on, {}).setdefault(book.pupils[p], []).append(d)
            for day in sorted(by_day):
                writer = HistoryWriter(
                    conn, school_id=sid, school=book.school, flow=flow.id,
                    flow_version=flow.version, now=local(day, 18), worker="backtest",
                )  # fmt: skip
                changes = []
                for pupil, decisions in sorted(by_day[day].items()):
                    before = held.get(pupil) or StoredCase(None, Case(book.school, pupil))
                    after = before.case
                    for d in decisions:
                        after = apply(after, d)
                    changes.append(CaseChange(before, decisions, after, ENGINE))
                result = writer.write(changes)
                written += result.records
                for change in changes:
                    pupil = change.after.pupil
                    held[pupil] = StoredCase(
                        result.case_ids[pupil], change.after, result.heads[pupil]
                    )
    return written


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    folder = tmp_path_factory.mktemp("audit-sample")
    url = f"sqlite:///{folder / 'sample.sqlite'}"
    trust = load_trust(SAMPLE / "trust.yaml")
    store = Store(url)
    try:
        store.migrate()
        store.upsert_schools(trust)
        start = datetime(2025, 9, 1, 7, tzinfo=UTC)
        marks = read_marks(SAMPLE / "marks.csv", trust.calendars(), aliases=trust.aliases)
        store.import_marks(marks, file=SAMPLE / "marks.csv", now=start, by="test")
        rosters = read_roster(SAMPLE / "roster.csv", set(trust.schools), aliases=trust.aliases)
        store.import_roster(rosters, file=SAMPLE / "roster.csv", now=start, by="test")
        with store.engine.begin() as conn:
            seal_imports(conn, start)
        runs, _ = bt.prepare(
            bt.Sources(marks=(SAMPLE / "marks.csv",), trust=SAMPLE / "trust.yaml",
                       roster=SAMPLE / "roster.csv")
        )  # fmt: skip
        books = [bt.run_school(r, bt.Period(None, BACKTEST_TO), auto_complete=True) for r in runs]
        records = persist(store, trust, books)
    finally:
        store.dispose()
    yield url, records


def test_replay_of_every_case_after_a_backtest_agrees_decision_for_decision(
    sample_db: tuple[str, int],
) -> None:
    url, records = sample_db
    env = settings(url, SAMPLE / "trust.yaml")
    result = run(env, "replay", "--all", "--json")
    assert result.exit_code == 0, result.output
    schools = json.loads(result.stdout)["schools"]
    assert [s["school"] for s in schools] == [f"school-0{i}" for i in range(1, 6)]
    for summary in schools:
        assert summary["agrees"] and summary["cases"] > 0
        assert summary["then"] == {"same": summary["decisions"]}
    replayed = sum(s["decisions"] for s in schools)
    assert replayed > 200 and records > replayed
    one = run(env, "replay", "--all", "--school", "school-02")
    assert one.exit_code == 0 and "verdict: every decision follows" in one.stdout
    verified = run(env, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("OK:")


# -- a mark amended after the letter went out ------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from built_state("sqlite", tmp_path_factory.mktemp("audit-e2e"))


@pytest.fixture
def amended(template: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """P1's reminder letter (stage two, on three lates) sent on 15 September; later that day the
    MIS corrects the late of 10 September to present (the export names who: j.bloggs), and the
    15th is evaluated."""
    yield from _amended(template, tmp_path, "j.bloggs")


@pytest.fixture
def amended_by_root(template: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """As ``amended``, the MIS's export naming its own system login as who corrected the mark."""
    yield from _amended(template, tmp_path, "root")


def _amended(template: str, tmp_path: Path, recorder: str) -> Iterator[dict[str, str]]:
    trust_path = write_trust(tmp_path / "trust")
    for url in clone(template, tmp_path):
        add_staff(url, "s.jones")  # who migrates P1's case
        store = Store(url)
        try:
            trust = load_trust(trust_path)
            clock = SimulatedClock(local(date(2025, 9, 15), 9))
            service = Service(store, trust, clock)
            [letter] = [t for t in service.tasks(SCHOOL) if t.pupil == "P1" and t.letter_id]
            assert letter.letter_id is not None
            service.approve_letter(letter.letter_id, by="head.teacher")
            service.complete_task(letter.id, "sent", by="s.jones", at=clock.now())
            path = tmp_path / "amendment.csv"
            path.write_text(
                "school,pupil,date,session,code,minutes_late,recorded_at,recorded_by\n"
                f"{SCHOOL},P1,2025-09-10,AM,/,,2025-09-15T11:00:00+01:00,{recorder}\n"
                + "".join(
                    f"{SCHOOL},{p},2025-09-15,{s},{c},,2025-09-15T{h}:05:00+01:00,\n"
                    for p in ("P1", "P2", "P3", "P4")
                    for s, c, h in (("AM", "/", "09"), ("PM", "\\", "13"))
                ),
                encoding="utf-8",
            )
            clock.set(local(date(2025, 9, 15), 17))
            marks = read_marks(path, trust.calendars(), aliases=trust.aliases)
            store.import_marks(marks, file=path, now=clock.now(), by="mis-import")
            with store.engine.begin() as conn:
                seal_imports(conn, clock.now())
            clock.set(local(date(2025, 9, 15), 18))
            service.run_day(SCHOOL, date(2025, 9, 15))
        finally:
            store.dispose()
        yield settings(url, trust_path) | {"DB_FILE": str(make_url(url).database)}


def test_a_letter_sent_before_a_mark_was_amended_still_followed_from_what_was_known(
    amended: dict[str, str],
) -> None:
    result = run(amended, "replay", SCHOOL, "P1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["agrees"]
    [letter] = [
        d for d in report["decisions"] if "stage_entered 2 (stage_2.support)" in d["recorded"]
    ]
    assert any("attendance_reminder_letter" in r for r in letter["recorded"])
    assert letter["then"]["verdict"] == "same"
    assert (letter["now"]["verdict"], letter["now"]["reason"]) == ("differs", "mark_amended_later")
    [mark] = letter["now"]["marks"]
    assert (mark["day"], mark["session"], mark["code_then"], mark["code_now"]) == (
        "2025-09-10", "AM", "L", "/",
    )  # fmt: skip
    assert mark["recorded_by"] == "j.bloggs"
    text = run(amended, "replay", SCHOOL, "P1")
    assert "mark_amended_later" in text.stdout
    assert "2025-09-10 AM L→/, recorded 2025-09-15T10:00:00+00:00 by j.bloggs" in text.stdout


def test_as_of_shows_the_case_as_it_stood_before_the_letter_was_sent(
    amended: dict[str, str],
) -> None:
    result = run(amended, "replay", SCHOOL, "P1", "--as-of", "2025-09-12")
    assert result.exit_code == 0, result.output
    assert "the case at 2025-09-12T23:59:59.999999+01:00:" in result.stdout
    assert "open task attendance_reminder_letter" in result.stdout
    assert "s.jones" not in result.stdout  # the letter went out on the 15th


def test_the_case_file_holds_the_chronology_and_the_amendment(
    amended: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "p1.csv"
    result = run(amended, "case", "export", SCHOOL, "P1", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    kinds = {r["category"] for r in rows}
    assert {"case", "trigger", "letter", "amendment"} <= kinds
    sent = [r for r in rows if r["category"] == "letter" and r["who"] == "s.jones"]
    assert sent and "sent" in sent[0]["what"]
    [amendment] = [r for r in rows if r["category"] == "amendment"]
    assert "the morning of Wednesday 10 September 2025: L → /" in amendment["what"]
    assert (
        "amended in the MIS by j.bloggs on Monday 15 September 2025 at 11am" in amendment["what"]
    )
    assert amendment["who"] == "mis-import"  # who brought it into the service
    trigger = next(r for r in rows if r["category"] == "trigger")
    assert "late_sessions_this_half_term = 3" in trigger["facts"]
    document = json.loads(run(amended, "case", "export", SCHOOL, "P1", "--format", "json",
                              "--out", "-").stdout)  # fmt: skip
    assert document["pupil"] == "P1" and document["chain_intact"]
    assert document["chart"]["thresholds"]
    [versions] = document["amendments"]
    assert [(v["code"], v["recorded_by"]) for v in versions] == [("L", None), ("/", "j.bloggs")]


def test_the_html_case_file_names_who_amended_the_mark_in_the_mis(
    amended: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "p1.html"
    result = run(amended, "case", "export", SCHOOL, "P1", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "in the MIS by j.bloggs" in html  # the chronology's amendment entry
    assert (
        "/: amended in the MIS by j.bloggs on Monday 15 September 2025 at 11am" in html
    )  # the amendments table


@pytest.mark.needs_program("pdftotext")
def test_a_mark_amended_under_a_system_login_is_never_put_to_a_person(
    amended_by_root: dict[str, str], tmp_path: Path
) -> None:
    for fmt in ("html", "pdf"):
        out = tmp_path / f"p1.{fmt}"
        result = run(amended_by_root, "case", "export", SCHOOL, "P1", "--format", fmt, "--out",
                     str(out))  # fmt: skip
        assert result.exit_code == 0, result.output
        text = out.read_text(encoding="utf-8") if fmt == "html" else _pdf_text(out)
        flat = " ".join(text.split())
        assert "amended in the MIS by a system account of the MIS (no person named)" in flat, fmt
        assert "by root" not in flat, fmt


def _pdf_text(pdf: Path) -> str:
    done = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True)
    return done.stdout


@pytest.mark.needs_program("pdftoppm")
def test_the_pdf_case_file_opens_and_shows_the_chart(
    amended: dict[str, str], tmp_path: Path
) -> None:
    pdf = tmp_path / "p1.pdf"
    result = run(amended, "case", "export", SCHOOL, "P1", "--format", "pdf", "--out", str(pdf))
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-r", "60", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    [png] = list(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 20_000  # a page with a drawn chart, not a blank one
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert "Attendance over the year" in text and "Chronology" in text
        assert "attendance reminder letter" in text
        assert "j.bloggs" in text


def test_verify_names_a_deleted_record_and_exits_non_zero(amended: dict[str, str]) -> None:
    assert run(amended, "audit", "verify").exit_code == 0
    conn = sqlite3.connect(amended["DB_FILE"])
    conn.execute(
        "DELETE FROM case_events WHERE seq = 2 AND case_id = (SELECT id FROM cases WHERE pupil = 'P1')"
    )
    conn.commit()
    conn.close()
    result = run(amended, "audit", "verify", "--school", SCHOOL)
    assert result.exit_code == 1
    assert "oaks/P1 record 2: deleted" in result.stdout


def test_verify_names_a_mark_whose_mis_user_was_changed_after_it_was_sealed(
    amended: dict[str, str],
) -> None:
    conn = sqlite3.connect(amended["DB_FILE"])
    conn.execute(
        "UPDATE marks SET recorded_by = 'someone.else' WHERE date = '2025-09-10' AND code = '/' "
        "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P1')"
    )
    conn.commit()
    conn.close()
    result = run(amended, "audit", "verify", "--school", SCHOOL)
    assert result.exit_code == 1
    assert "mark_edited" in result.stdout
    assert "pupil P1 2025-09-10 AM code / by someone.else" in result.stdout


def test_replay_of_a_case_whose_chain_is_broken_warns_and_exits_non_zero(
    amended: dict[str, str],
) -> None:
    conn = sqlite3.connect(amended["DB_FILE"])
    conn.execute(
        "UPDATE case_events SET body = replace(body, 'reminder', 'remainder') WHERE seq = 3 "
        "AND case_id = (SELECT id FROM cases WHERE pupil = 'P1')"
    )
    conn.commit()
    conn.close()
    single = run(amended, "replay", SCHOOL, "P1")
    assert single.exit_code == 1
    assert single.stdout.startswith("WARNING: this case's hash chain is broken")
    assert json.loads(run(amended, "replay", SCHOOL, "P1", "--json").stdout)["chain_intact"] is False
    every = run(amended, "replay", "--all", "--school", SCHOOL, "--json")
    assert every.exit_code == 1
    assert json.loads(every.stdout)["chain_broken"] == ["P1"]


def test_a_recorded_migration_moves_an_open_case_onto_another_version(
    amended: dict[str, str], tmp_path: Path
) -> None:
    variant = tmp_path / "leigh-academy-oaks.yaml"
    variant.write_text(
        (ROOT / "flows" / "leigh-academy-oaks.yaml").read_text(encoding="utf-8") + "\n# v2\n",
        encoding="utf-8",
    )
    flow = load_flow(variant)
    store = Store(amended["ESCALATION_FLOW_DATABASE_URL"])
    try:
        with store.engine.begin() as conn:
            store_flow_version(conn, flow, datetime(2025, 9, 16, tzinfo=UTC))
    finally:
        store.dispose()
    result = run(
        amended, "case", "migrate", SCHOOL, "P1", "--to-version", flow.version[:12],
        "--by", "s.jones", "--reason", "the trust adopted the revised plan",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"to {flow.version[:12]} by s.jones" in result.stdout
    replay = json.loads(run(amended, "replay", SCHOOL, "P1", "--json").stdout)
    assert replay["case"]["flow_version"] == flow.version
    assert replay["decisions"][-1]["kind"] == "migration"
    assert replay["agrees"]
    assert run(amended, "audit", "verify").exit_code == 0
    again = run(
        amended, "case", "migrate", SCHOOL, "P1", "--to-version", flow.version[:12],
        "--by", "s.jones", "--reason", "again",
    )  # fmt: skip
    assert again.exit_code == 2 and "already" in again.output


# -- a checkpoint kept outside the database -----------------------------------------------------


def sql(env: dict[str, str], *statements: str) -> None:
    conn = sqlite3.connect(env["DB_FILE"])
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_a_completed_task_rewritten_is_named_by_verify_alone_and_against_the_checkpoint(
    amended: dict[str, str], tmp_path: Path
) -> None:
    kept = tmp_path / "kept" / "checkpoint.json"
    made = run(amended, "audit", "checkpoint", "--out", str(kept))
    assert made.exit_code == 0, made.output
    document = json.loads(kept.read_text(encoding="utf-8"))
    assert document["format"] == 3 and len(document["sha256"]) == 64
    assert document["chain_format"] == 2 and document["records"]
    assert {"oaks/P1", "oaks/P2"} <= {f"{c['school']}/{c['pupil']}" for c in document["cases"]}
    clean = run(amended, "audit", "verify", "--against", str(kept))
    assert clean.exit_code == 0, clean.output
    assert "against the checkpoint of" in clean.stdout
    sql(amended, "UPDATE tasks SET completed_by = 'mallory' WHERE completed_by = 's.jones'")
    alone = run(amended, "audit", "verify")  # chain format 2: the history says who completed it
    assert alone.exit_code == 1
    assert "oaks/P1: task_edited: task " in alone.stdout and "'mallory'" in alone.stdout
    result = run(amended, "audit", "verify", "--against", str(kept))
    assert result.exit_code == 1
    assert "(oaks/P1): task_edited: its completion (done at the checkpoint)" in result.stdout


def test_the_end_of_a_history_cut_off_and_the_case_row_fixed_up_is_named(
    amended: dict[str, str], tmp_path: Path
) -> None:
    kept = tmp_path / "checkpoint.json"
    assert run(amended, "audit", "checkpoint", "--out", str(kept)).exit_code == 0
    p1 = "(SELECT id FROM cases WHERE pupil = 'P1')"
    last = f"(SELECT max(seq) FROM case_events WHERE case_id = {p1})"
    sql(
        amended,
        f"DELETE FROM case_events WHERE case_id = {p1} AND seq = {last}",
        f"UPDATE cases SET length = {last}, head_hash = (SELECT hash FROM case_events "
        f"WHERE case_id = {p1} AND seq = {last}) WHERE id = {p1}",
    )
    result = run(amended, "audit", "verify", "--against", str(kept), "--json")
    assert result.exit_code == 1
    [problem] = [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "truncated"]
    assert problem["where"] == "oaks/P1"
    assert problem["seq"] == json.loads(kept.read_text())["cases"][0]["length"]


def test_an_edited_checkpoint_file_is_refused(amended: dict[str, str], tmp_path: Path) -> None:
    kept = tmp_path / "checkpoint.json"
    assert run(amended, "audit", "checkpoint", "--out", str(kept)).exit_code == 0
    document = json.loads(kept.read_text(encoding="utf-8"))
    document["cases"] = document["cases"][1:]  # forget a case, to hide its deletion
    kept.write_text(json.dumps(document), encoding="utf-8")
    result = run(amended, "audit", "verify", "--against", str(kept))
    assert result.exit_code == 2
    assert "does not give its own sha256: it was edited" in result.output
