"""A retention run over seven school years (2019-20 to 2025-26) on SQLite and PostgreSQL:
``audit verify`` passes before and after it (and against a checkpoint taken before), what
expired is gone from every table, what must stay stays, and tampering after the run is still
caught."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.erasure import RETENTION_CHAIN, RETENTION_RUN
from escalation_flow.adapters.store.records import NewRecord, append
from escalation_flow.adapters.store.register_snapshots import snapshots_folder
from escalation_flow.audit.checkpoint import check_against, make_checkpoint
from escalation_flow.audit.store_check import verify_store
from escalation_flow.audit.verify import VerifyReport
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from tests.daemon_builders import RootedRunner, clone
from tests.retention_builders import (
    LEAVER_EMAIL,
    LEAVER_NAME,
    LETTER_TEXT,
    SCHOOL,
    TODAY,
    built_database,
    instant,
)

POLICY = "  registers_years: 6\n  closed_cases_years: 6\n"
CUTOFF = date(2020, 7, 20)  # six years before TODAY


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp(f"retention-{request.param}")
    with built_database(request.param, folder, POLICY) as url:
        yield url, folder


@pytest.fixture
def db(
    template: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url, folder = template
    monkeypatch.chdir(tmp_path)  # `retention apply` writes its checkpoint under var/
    monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(folder / "trust.yaml"))
    for copy in clone(url, tmp_path):
        monkeypatch.setenv("ESCALATION_FLOW_DATABASE_URL", copy)
        yield copy


def cli(*args: str) -> Result:
    runner = RootedRunner(Root(SimulatedClock(instant(TODAY, 16))))
    return runner.invoke(main, list(args), catch_exceptions=False)


def verify(url: str, checkpoint: dict[str, object] | None = None) -> VerifyReport:
    store = Store(url)
    try:
        report = verify_store(store.engine)
        if checkpoint is not None:
            report.breaches += check_against(store.engine, checkpoint)
        return report
    finally:
        store.dispose()


def checkpoint(url: str) -> dict[str, object]:
    store = Store(url)
    try:
        return make_checkpoint(store.engine, instant(date(2026, 7, 1)))
    finally:
        store.dispose()


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def tamper(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def kinds(report: VerifyReport) -> set[str]:
    return {b.kind for b in report.breaches}


def hold_p03() -> None:
    result = cli(
        "retention", "hold", SCHOOL, "P03", "--reason", "prosecution pending", "--by", "dpo"
    )
    assert result.exit_code == 0, result.output


def dumped(url: str) -> str:
    """Every row of every table as text: where erased content must not be found."""
    engine = sa.create_engine(url)
    try:
        out = []
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                rows = conn.exec_driver_sql(f"SELECT * FROM {table}")
                out += [f"{table}: {tuple(r)!r}" for r in rows]
        return "\n".join(out)
    finally:
        engine.dispose()


# -- the run -----------------------------------------------------------------------------------


def test_a_run_erases_what_expired_and_verify_passes_before_and_after(db: str) -> None:
    before = verify(db)
    assert before.ok, before.breaches
    seen = checkpoint(db)
    hold_p03()
    old_marks = query(db, f"SELECT count(*) FROM marks WHERE date < '{CUTOFF}'")[0][0]
    assert old_marks

    result = cli("retention", "apply", "--by", "dpo")
    assert result.exit_code == 0, result.output
    assert "retention run" in result.output

    after = verify(db, seen)
    assert after.ok, after.breaches
    held = query(
        db,
        "SELECT count(*) FROM marks m JOIN pupils p ON p.id = m.pupil_id "
        f"WHERE m.date < '{CUTOFF}' AND p.mis_id = 'P03'",
    )[0][0]
    left = query(db, f"SELECT count(*) FROM marks WHERE date < '{CUTOFF}'")[0][0]
    assert left == held and held > 0  # only the held pupil's expired marks stay
    assert query(db, f"SELECT count(*) FROM marks WHERE date >= '{CUTOFF}'")[0][0] > 0
    cases = {r[0] for r in query(db, "SELECT pupil FROM cases")}
    assert cases == {"P02", "P03", "P04"}  # P01 closed in 2019: erased; the rest kept
    pupils = {r[0] for r in query(db, "SELECT mis_id FROM pupils")}
    assert not pupils & {"P05", "P06", "P07", "P08"} and "P09" in pupils
    assert query(db, "SELECT contact FROM contacts") == [("C09",)]
    text = dumped(db)
    for gone in (LETTER_TEXT, LEAVER_NAME, "spoke to mum of P01"):
        assert gone not in text, [line for line in text.splitlines() if gone in line]


def test_a_dry_run_erases_nothing_and_is_recorded(db: str) -> None:
    marks = query(db, "SELECT count(*) FROM marks")
    result = cli("retention", "apply", "--dry-run", "--by", "dpo")
    assert result.exit_code == 0, result.output
    assert "nothing erased" in result.output and f"{SCHOOL}:" in result.output
    assert query(db, "SELECT count(*) FROM marks") == marks
    assert query(db, "SELECT action FROM audit_log WHERE action = 'retention_dry_run'")
    assert verify(db).ok


def test_due_says_what_is_due_and_what_is_kept_and_why(db: str) -> None:
    hold_p03()
    result = cli("retention", "due", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["register_cutoff"] == CUTOFF.isoformat()
    assert [c["pupil"] for c in plan["cases_due"]] == ["P01"]
    why = {(k["pupil"], k["what"]): k["why"] for k in plan["kept"]}
    assert "never erased" in why[("P04", "case")]
    assert "legal hold" in why[("P03", "case")] and "legal hold" in why[("P03", "marks")]
    assert "2026-09-01" in why[("P02", "case")]


def test_a_second_run_on_the_same_day_erases_nothing_more_and_still_verifies(db: str) -> None:
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    again = cli("retention", "apply", "--by", "dpo")
    assert again.exit_code == 0, again.output
    assert "0 marks, 0 cases" in again.output
    assert verify(db).ok


def test_only_a_data_protection_officer_applies_the_policy(db: str) -> None:
    from tests.staff_builders import add_staff

    add_staff(db, "lead")
    result = cli("retention", "apply", "--by", "lead")
    assert result.exit_code != 0
    assert "data protection officer" in result.output
    assert not query(db, "SELECT id FROM chain_records WHERE chain = 'retention'")


# -- tampering after the run -------------------------------------------------------------------


def test_a_kept_mark_deleted_after_the_run_is_still_caught(db: str) -> None:
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    # a mark of 2020-21 that shared its import (and seal) with the erased year
    tamper(
        db,
        "DELETE FROM marks WHERE import_id = (SELECT min(import_id) FROM marks) "
        "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P10')",
    )
    assert "mark_deleted" in kinds(verify(db))


def test_a_case_erased_without_a_run_is_caught_against_the_checkpoint(db: str) -> None:
    seen = checkpoint(db)
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    case = "(SELECT id FROM cases WHERE pupil = 'P02')"
    tamper(
        db,
        f"DELETE FROM tasks WHERE case_id = {case}",
        f"DELETE FROM case_events WHERE case_id = {case}",
        f"DELETE FROM cases WHERE id = {case}",
    )
    assert "case_deleted" in kinds(verify(db, seen))


def test_an_edited_run_record_is_caught(db: str) -> None:
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    tamper(db, "UPDATE chain_records SET body = replace(body, '\"by\":\"dpo\"', '\"by\":\"x\"') "
               "WHERE chain = 'retention'")  # fmt: skip
    assert "record_edited" in kinds(verify(db))


def test_a_forged_run_erasing_a_case_not_yet_due_is_caught(db: str) -> None:
    case_id, length, head = query(
        db, "SELECT id, length, head_hash FROM cases WHERE pupil = 'P02'"
    )[0]
    body = {
        "by": "dpo", "today": TODAY.isoformat(),
        "policy": {"registers_years": 6, "closed_cases_years": 6},
        "register_cutoff": CUTOFF.isoformat(), "case_cutoff": CUTOFF.isoformat(),
        "counts": {}, "seals": [], "letters": [], "tasks": [],
        "cases": [{"case": case_id, "length": length, "head": head, "closed_on": "2020-09-01"}],
    }  # fmt: skip
    engine = sa.create_engine(db)
    try:
        with engine.begin() as conn:
            record = NewRecord(RETENTION_CHAIN, RETENTION_RUN, "run 1", body, instant(TODAY))
            append(conn, [record], instant(TODAY))
            for table in ("tasks", "case_events"):
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE case_id = {case_id}")
            conn.exec_driver_sql(f"DELETE FROM cases WHERE id = {case_id}")
    finally:
        engine.dispose()
    assert "retention_run_invalid" in kinds(verify(db))


def test_a_forged_run_with_a_register_term_shorter_than_the_law_is_caught(db: str) -> None:
    body = {
        "by": "dpo", "today": TODAY.isoformat(),
        "policy": {"registers_years": 2, "closed_cases_years": 6},
        "register_cutoff": "2024-07-20", "case_cutoff": CUTOFF.isoformat(),
        "counts": {}, "seals": [], "cases": [], "letters": [], "tasks": [],
    }  # fmt: skip
    engine = sa.create_engine(db)
    try:
        with engine.begin() as conn:
            record = NewRecord(RETENTION_CHAIN, RETENTION_RUN, "run 1", body, instant(TODAY))
            append(conn, [record], instant(TODAY))
    finally:
        engine.dispose()
    assert "retention_run_invalid" in kinds(verify(db))


def test_without_a_policy_nothing_is_due_and_the_command_says_how_to_add_one(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.retention_builders import write_trust

    monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(write_trust(tmp_path / "bare", None)))
    result = cli("retention", "apply", "--by", "dpo")
    assert result.exit_code == 2
    assert "no retention policy" in result.output and "registers_years" in result.output


def test_a_hold_needs_a_data_protection_officer_and_a_release_is_recorded(db: str) -> None:
    from tests.staff_builders import add_staff

    add_staff(db, "lead")
    refused = cli("retention", "hold", SCHOOL, "P01", "--reason", "court", "--by", "lead")
    assert refused.exit_code != 0 and "data protection officer" in refused.output
    placed = cli("retention", "hold", SCHOOL, "P01", "--reason", "court", "--by", "dpo")
    assert placed.exit_code == 0, placed.output
    # ids run on across tests on PostgreSQL: the one the command names
    hold_id = re.findall(r"hold (\d+) on", placed.output)[0]
    released = cli("retention", "release", hold_id, "--reason", "case dropped", "--by", "dpo")
    assert released.exit_code == 0, released.output
    kinds_written = [
        r[0]
        for r in query(db, "SELECT kind FROM chain_records WHERE chain = 'retention' ORDER BY seq")
    ]
    assert kinds_written == ["retention_hold", "retention_release"]
    assert "standing" not in cli("retention", "holds", "--all").output
    assert verify(db).ok


def notice(url: str, version: int, status: str) -> None:
    """A penalty-notice version for P01's parent, written straight to the register's table (the
    plan reads only its latest status)."""
    from escalation_flow.adapters.store.penalty_notices import TABLE

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            school_id = conn.exec_driver_sql("SELECT id FROM schools").scalar_one()
            conn.execute(
                TABLE.insert().values(
                    notice=1, version=version, school_id=school_id, pupil="P01", parent="C01",
                    kind="penalty_notice", offence="unauthorised_absence", sessions="[]",
                    issued_on=date(2019, 11, 1), status=status, amount_reduced=80,
                    amount_full=160, recorded_by="lead", recorded_at=instant(date(2019, 11, 1)),
                    note="",
                )
            )  # fmt: skip
    finally:
        engine.dispose()


def test_a_penalty_notice_outstanding_keeps_the_pupil_until_it_is_paid(db: str) -> None:
    notice(db, 1, "unpaid")
    plan = json.loads(cli("retention", "due", "--json").output)
    assert [c["pupil"] for c in plan["cases_due"]] == ["P03"]  # P03 is not held here
    why = {(k["pupil"], k["what"]): k["why"] for k in plan["kept"]}
    assert why[("P01", "case")] == "penalty notice 1 is unpaid"
    notice(db, 2, "paid")
    plan = json.loads(cli("retention", "due", "--json").output)
    assert [c["pupil"] for c in plan["cases_due"]] == ["P01", "P03"]


# -- what an external anchor proves (the attacker's forgery, and the bytes left behind) ---------


def forge_run(url: str, marks_of: str, month: str, open_case_of: str) -> None:
    """The attack as it was made with the project's own ``records.append``: delete a pupil's
    marks of one month (far too young), re-seal what is left, erase an open case after marking
    its row closed in 2015, and chain a run naming both."""
    from escalation_flow.adapters.store.audit_store import mark_rows
    from escalation_flow.adapters.store.seals import mark_digest

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            (school_id,) = conn.exec_driver_sql("SELECT id FROM schools").one()
            young = (
                f"pupil_id = (SELECT id FROM pupils WHERE mis_id = '{marks_of}') "
                f"AND date >= '{month}-01' AND date <= '{month}-31'"
            )
            imports = [
                int(i) for (i,) in conn.exec_driver_sql(
                    f"SELECT DISTINCT import_id FROM marks WHERE {young}")
            ]  # fmt: skip
            assert imports, "the builder holds no marks for that month"
            seals = []
            for import_id, rows in mark_rows(conn, school_id, imports).items():
                kept = [r for r in rows if not (r.pupil == marks_of and str(r.day)[:7] == month)]
                seal = conn.exec_driver_sql(
                    f"SELECT seq FROM mark_seals WHERE import_id = {import_id}"
                ).scalar()
                seals.append({"school": SCHOOL, "import": import_id, "seal": seal,
                              "erased": len(rows) - len(kept), "kept": len(kept),
                              "kept_sha256": mark_digest(kept)})  # fmt: skip
            conn.exec_driver_sql(f"DELETE FROM marks WHERE {young}")
            case_id, length, head = conn.exec_driver_sql(
                f"SELECT id, length, head_hash FROM cases WHERE pupil = '{open_case_of}'"
            ).one()
            conn.exec_driver_sql(
                f"UPDATE cases SET status = 'closed', closed_on = '2015-01-01' WHERE id = {case_id}"
            )
            for table in ("timers", "tasks", "case_events"):
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE case_id = {case_id}")
            conn.exec_driver_sql(f"DELETE FROM cases WHERE id = {case_id}")
            body = {
                "by": "dpo", "today": TODAY.isoformat(),
                "policy": {"registers_years": 6, "closed_cases_years": 6},
                "register_cutoff": CUTOFF.isoformat(), "case_cutoff": CUTOFF.isoformat(),
                "counts": {"marks": sum(int(x["erased"]) for x in seals), "cases": 1,
                           "letters": 0, "tasks": 0, "pupils": 0},
                "seals": seals, "letters": [], "tasks": [],
                "cases": [{"case": case_id, "length": length, "head": head,
                           "closed_on": "2015-01-01"}],
            }  # fmt: skip
            record = NewRecord(RETENTION_CHAIN, RETENTION_RUN, "run 1", body, instant(TODAY))
            append(conn, [record], instant(TODAY))
    finally:
        engine.dispose()


def test_a_forged_run_of_young_marks_and_an_open_case_fails_against_the_checkpoint_before(
    db: str,
) -> None:
    seen = checkpoint(db)
    forge_run(db, marks_of="P10", month="2026-01", open_case_of="P04")
    found = verify(db, seen).breaches
    messages = [b.message for b in found if b.kind == "retention_run_invalid"]
    assert any("elms dated in 2026-01" in m and m.startswith("run 1:") for m in messages), found
    assert any("case" in m and "elms/P04" in m and "open" in m for m in messages), found


def test_a_real_run_verifies_against_the_checkpoint_apply_wrote_before_it(
    db: str, tmp_path: Path
) -> None:
    from escalation_flow.audit.checkpoint import read_checkpoint

    hold_p03()
    out = tmp_path / "kept-elsewhere" / "before.json"
    result = cli("retention", "apply", "--by", "dpo", "--checkpoint-out", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    seen = read_checkpoint(out)
    assert seen["format"] == 3
    after = verify(db, seen)
    assert after.ok, after.breaches
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0  # the default place
    assert len(list((tmp_path / "var" / "checkpoints").glob("before-retention-*.json"))) == 1


def test_an_erased_parents_email_is_not_left_in_the_sqlite_file(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.startswith("sqlite"):
        pytest.skip("the bytes of a SQLite file; PostgreSQL is vacuumed (docs/data-protection.md)")
    from escalation_flow.adapters.store import engine

    # upstream SQLite's default (some distributions build it on): the run must not rely on it
    monkeypatch.setattr(
        engine, "SQLITE_PRAGMAS", (*engine.SQLITE_PRAGMAS, "PRAGMA secure_delete=OFF")
    )
    files = [Path(db.removeprefix("sqlite:///"))]
    assert any(LEAVER_EMAIL.encode() in f.read_bytes() for f in files)
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    for f in [*files, Path(f"{files[0]}-wal")]:
        if f.exists():
            assert LEAVER_EMAIL.encode() not in f.read_bytes(), f


def test_a_leavers_meeting_actions_and_monthly_return_lines_go_with_them(db: str) -> None:
    at = "'2020-03-01 09:00:00'"
    tamper(
        db,
        "INSERT INTO meeting_actions (school, term, pupil, action, recorded_by, recorded_at) "
        f"VALUES ('{SCHOOL}', 'spring-2020', 'P06', 'home visit: Marmaduke', 'lead', {at})",
        "INSERT INTO meeting_actions (school, term, pupil, action, recorded_by, recorded_at) "
        f"VALUES ('{SCHOOL}', 'spring-2020', 'P09', 'keep watching', 'lead', {at})",
        "INSERT INTO la_notifications (school, month, pupils, digest, sent_by, sent_at) "
        f"VALUES ('{SCHOOL}', '2020-02', 'P06\nP09', '{'a' * 64}', 'lead', {at})",
    )
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    assert query(db, "SELECT pupil FROM meeting_actions") == [("P09",)]
    assert query(db, "SELECT pupils, digest FROM la_notifications") == [("P09", "a" * 64)]


def test_a_checkpoint_of_format_2_is_still_read_and_a_real_run_verifies_against_it(
    db: str, tmp_path: Path
) -> None:
    from escalation_flow.audit.checkpoint import _digest, checkpoint_text, read_checkpoint

    body = {k: v for k, v in checkpoint(db).items() if k != "sha256"}
    body["format"] = 2
    for case in body["cases"]:  # type: ignore[attr-defined]
        del case["status"], case["closed_on"]
    for seen in body["schools"].values():  # type: ignore[attr-defined]
        del seen["days"]
    path = tmp_path / "format2.json"
    path.write_text(checkpoint_text(body | {"sha256": _digest(body)}), encoding="utf-8")
    seen = read_checkpoint(path)
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    after = verify(db, seen)
    assert after.ok, after.breaches


def test_a_format_3_checkpoint_without_a_cases_status_is_refused(db: str, tmp_path: Path) -> None:
    from escalation_flow.audit.checkpoint import _digest, checkpoint_text, read_checkpoint
    from escalation_flow.errors import InputError

    body = {k: v for k, v in checkpoint(db).items() if k != "sha256"}
    del body["cases"][0]["status"]  # type: ignore[index]
    path = tmp_path / "hand-made.json"
    path.write_text(checkpoint_text(body | {"sha256": _digest(body)}), encoding="utf-8")
    with pytest.raises(InputError, match="status"):
        read_checkpoint(path)


def test_a_run_is_held_to_the_cutoffs_its_own_day_and_policy_give() -> None:
    from escalation_flow.audit.retention_check import allowed_cutoffs

    body = {
        "today": TODAY.isoformat(), "policy": {"registers_years": 2, "closed_cases_years": 6},
        "register_cutoff": "2025-01-01", "case_cutoff": "2026-01-01",
    }  # fmt: skip
    assert allowed_cutoffs(body) == (CUTOFF, CUTOFF)  # the law's six years, the policy's six


def test_a_run_whose_counts_are_not_what_it_names_is_caught_by_verify_alone(db: str) -> None:
    assert cli("retention", "apply", "--by", "dpo").exit_code == 0
    tamper(db, "UPDATE chain_records SET body = replace(body, '\"counts\":{\"cases\":', "
               "'\"counts\":{\"cases\":9,\"was\":') WHERE chain = 'retention'")  # fmt: skip
    messages = [b.message for b in verify(db).breaches if b.kind == "retention_run_invalid"]
    assert any("its count of cases (9) is not the 2 it names" in m for m in messages), messages


@pytest.mark.parametrize("setting", [None, "files"])
def test_a_run_deletes_the_daemons_register_files_of_the_database(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    """They are a copy of marks: resolved from the same settings as the daemon's."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))  # a server's, unset setting
    if setting is not None:
        setting = str(tmp_path / setting)
        monkeypatch.setenv("ESCALATION_FLOW_REGISTER_SNAPSHOTS_DIR", setting)
    folder = snapshots_folder(setting, db)
    assert folder is not None
    folder.mkdir(parents=True)
    (folder / "school.arrow").write_bytes(b"marks")
    result = cli("retention", "apply", "--by", "dpo")
    assert result.exit_code == 0, result.output
    assert not folder.exists()
