"""``audit verify`` on a real SQLite file (and PostgreSQL, when the tests have one): every record
edited, deleted or reordered behind the service's back is named, with its case and ``seq``; so
is every sealed mark changed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.audit_store import Forced, seal_imports
from escalation_flow.adapters.store.cases import history
from escalation_flow.adapters.store.seals import MarkRow, mark_digest, mark_fingerprints
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.audit.store_check import verify_store
from escalation_flow.audit.verify import Breach, VerifyReport
from escalation_flow.errors import InputError
from tests.daemon_builders import HEADER, LAST_DAY, SCHOOL, built_state, clone, local, write_trust

CASE_P1 = f"{SCHOOL}/P1"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The daemon's small trust after eight school days, its imports sealed."""
    folder = tmp_path_factory.mktemp(f"audit-verify-{request.param}")
    for url in built_state(request.param, folder):
        store = Store(url)
        try:
            with store.engine.begin() as conn:
                seal_imports(conn, local(LAST_DAY, 20))
        finally:
            store.dispose()
        yield url


@pytest.fixture
def db(template: str, tmp_path: Path) -> Iterator[str]:
    yield from clone(template, tmp_path)


def verify(url: str) -> VerifyReport:
    store = Store(url)
    try:
        return verify_store(store.engine)
    finally:
        store.dispose()


def tamper(url: str, *statements: str) -> None:
    """What someone with the database could do, outside the service."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def p1_records(url: str) -> list[int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = (
                "SELECT e.seq FROM case_events e JOIN cases c ON c.id = e.case_id "
                "WHERE c.pupil = 'P1' ORDER BY e.seq"
            )
            return [int(r[0]) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


def p1(where: str = "") -> str:
    return f"case_id = (SELECT id FROM cases WHERE pupil = 'P1'){where}"


def named(report: VerifyReport) -> set[tuple[str, int | None, str]]:
    return {(b.where, b.seq, b.kind) for b in report.breaches}


def test_an_untouched_store_verifies(db: str) -> None:
    report = verify(db)
    assert report.ok, report.breaches
    assert report.cases >= 2 and report.records > 5
    assert report.seals == 8 and report.marks == 8 * 4 * 2
    assert report.flow_versions == 1
    assert not report.warnings


def test_an_edited_record_is_named(db: str) -> None:
    tamper(
        db,
        f"UPDATE case_events SET body = replace(body, '\"stage\":2', '\"stage\":1') WHERE {p1(' AND seq = 2')}",
    )
    report = verify(db)
    assert (CASE_P1, 2, "edited") in named(report)
    assert not report.ok


def test_a_record_rewritten_with_its_hash_recomputed_is_caught_by_the_next_one(db: str) -> None:
    store = Store(db)
    try:
        with store.engine.connect() as conn:
            case_id = conn.execute(sa.text("SELECT id FROM cases WHERE pupil = 'P1'")).scalar_one()
            row = history(conn, case_id)[1]
    finally:
        store.dispose()
    forged = dataclasses.replace(row.link(CASE_P1), actor="someone")
    tamper(
        db,
        f"UPDATE case_events SET actor = 'someone', hash = '{forged.hash()}' "
        f"WHERE {p1(' AND seq = 2')}",
    )
    report = verify(db)
    assert named(report) == {(CASE_P1, 2, "edited")}
    assert "its hash recomputed" in report.breaches[0].message


def test_a_deleted_record_is_named(db: str) -> None:
    tamper(db, f"DELETE FROM case_events WHERE {p1(' AND seq = 2')}")
    assert named(verify(db)) == {(CASE_P1, 2, "deleted")}


def test_a_record_deleted_from_the_end_is_named(db: str) -> None:
    last = p1_records(db)[-1]
    tamper(db, f"DELETE FROM case_events WHERE {p1(f' AND seq = {last}')}")
    report = verify(db)
    assert (CASE_P1, last, "deleted") in named(report)
    assert "from the end" in next(b.message for b in report.breaches if b.seq == last)


def test_two_swapped_records_are_named_with_where_each_was_written(db: str) -> None:
    tamper(
        db,
        f"UPDATE case_events SET seq = -1 WHERE {p1(' AND seq = 2')}",
        f"UPDATE case_events SET seq = 2 WHERE {p1(' AND seq = 3')}",
        f"UPDATE case_events SET seq = 3 WHERE {p1(' AND seq = -1')}",
    )
    report = verify(db)
    assert named(report) == {(CASE_P1, 2, "reordered"), (CASE_P1, 3, "reordered")}
    messages = {b.seq: b.message for b in report.breaches}
    assert messages[2] == "this record was written as record 3"
    assert messages[3] == "this record was written as record 2"


def test_a_case_row_that_disagrees_with_its_history_is_named(db: str) -> None:
    tamper(db, "UPDATE cases SET stage = 4 WHERE pupil = 'P1'")
    assert (CASE_P1, None, "case_row") in named(verify(db))


def test_an_edited_mark_is_named_with_its_pupil_day_and_session(db: str) -> None:
    tamper(
        db,
        "UPDATE marks SET code = '/' WHERE date = '2025-09-10' AND session = 'AM' "
        "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P1')",
    )
    report = verify(db)
    [breach] = [b for b in report.breaches if b.kind == "mark_edited"]
    assert breach.where == f"marks of {SCHOOL}"
    assert "pupil P1 2025-09-10 AM code /" in breach.message


def test_a_deleted_mark_is_named(db: str) -> None:
    tamper(
        db,
        "DELETE FROM marks WHERE date = '2025-09-12' AND session = 'AM' "
        "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P1')",
    )
    [breach] = [b for b in verify(db).breaches if b.kind == "mark_deleted"]
    assert "pupil P1 2025-09-12 AM" in breach.message


def test_a_mark_slipped_into_an_old_import_is_named(db: str) -> None:
    later = "recorded_at + 1" if db.startswith("sqlite") else "recorded_at + interval '1 second'"
    tamper(
        db,
        f"INSERT INTO marks SELECT school_id, pupil_id, date, session, {later}, 'O', "
        "minutes_late, imported_at, import_id, recorded_by FROM marks WHERE date = '2025-09-05' "
        "AND session = 'PM' AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P3')",
    )
    [breach] = [b for b in verify(db).breaches if b.kind == "mark_added"]
    assert "pupil P3 2025-09-05 PM code O" in breach.message


def import_named_amendment(url: str, folder: Path) -> None:
    """The MIS amends P1's late of 10 September to present, saying who did it; sealed."""
    trust = load_trust(write_trust(folder / "trust"))
    path = folder / "amended.csv"
    path.write_text(
        f"{HEADER},recorded_by\n{SCHOOL},P1,2025-09-10,AM,/,,2025-09-15T11:00:00+01:00,j.bloggs\n",
        encoding="utf-8",
    )
    store = Store(url)
    try:
        marks = read_marks(path, trust.calendars(), aliases=trust.aliases)
        at = local(date(2025, 9, 15), 17)
        store.import_marks(marks, file=path, now=at, by="mis-import", seal=True)
    finally:
        store.dispose()


P1_AMENDED = (
    "WHERE date = '2025-09-10' AND session = 'AM' AND code = '/' "
    "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P1')"
)


def test_a_mark_sealed_with_who_recorded_it_verifies(db: str, tmp_path: Path) -> None:
    import_named_amendment(db, tmp_path)
    report = verify(db)
    assert report.ok, report.breaches
    assert report.seals == 9 and not report.warnings


def test_a_mark_whose_recorder_was_changed_after_sealing_is_named(db: str, tmp_path: Path) -> None:
    import_named_amendment(db, tmp_path)
    tamper(db, f"UPDATE marks SET recorded_by = 'mallory' {P1_AMENDED}")
    [breach] = verify(db).breaches
    assert (breach.where, breach.kind) == (f"marks of {SCHOOL}", "mark_edited")
    assert "import 10: pupil P1 2025-09-10 AM code / by mallory" in breach.message


def test_a_name_added_to_a_mark_sealed_without_one_is_named(db: str) -> None:
    tamper(
        db,
        "UPDATE marks SET recorded_by = 'mallory' WHERE date = '2025-09-10' AND session = 'AM' "
        "AND pupil_id = (SELECT id FROM pupils WHERE mis_id = 'P1')",
    )
    [breach] = verify(db).breaches
    assert breach.kind == "mark_edited"
    assert "pupil P1 2025-09-10 AM code L by mallory" in breach.message


def test_a_name_erased_after_sealing_is_named(db: str, tmp_path: Path) -> None:
    import_named_amendment(db, tmp_path)
    tamper(db, f"UPDATE marks SET recorded_by = NULL {P1_AMENDED}")
    [breach] = verify(db).breaches
    assert breach.kind == "mark_edited" and "pupil P1 2025-09-10 AM code /" in breach.message


def test_marks_without_a_name_seal_as_they_did_before_names_were_kept() -> None:
    """Seals made before ``recorded_by`` existed must still verify: the digest and fingerprints
    of rows without a name are pinned to what the earlier code gave for them."""
    rows = [
        MarkRow("P1", date(2025, 9, 10), "AM", "L", 1757491200000000, 12, 1757527200000000),
        MarkRow("P2", date(2025, 9, 10), "PM", "N", 1757505600000000, None, 1757527200000000),
    ]
    assert rows[0].text() == "P1|2025-09-10|AM|L|1757491200000000|12|1757527200000000"
    assert mark_digest(rows) == "a91b8c24ce67235718a90b862a37f28a8c314960cd40cea18823a97c86485763"
    assert mark_fingerprints(rows).hex() == "3f171da1b9ec1429a8d84c93d2033dcd"
    named = dataclasses.replace(rows[0], recorded_by="j.bloggs")
    assert named.text() == rows[0].text() + "|by=j.bloggs"
    assert mark_digest([named, rows[1]]) != mark_digest(rows)


def test_an_edited_flow_text_is_named(db: str) -> None:
    tamper(db, "UPDATE flow_versions SET yaml = yaml || '# changed'")
    kinds = {(b.kind, b.where[:12]) for b in verify(db).breaches}
    assert ("edited", "flow version") in kinds


def test_breaches_print_with_case_record_and_kind() -> None:
    text = str(Breach(CASE_P1, 3, "deleted", "missing: deleted after it was written"))
    assert text == "oaks/P1 record 3: deleted: missing: deleted after it was written"


# -- a missing seal, and ``audit seal`` that would launder an edit ---------------------------------


def test_a_case_rows_status_or_state_that_disagrees_with_its_history_is_named(db: str) -> None:
    tamper(db, "UPDATE cases SET status = 'closed' WHERE pupil = 'P1'")
    tamper(db, "UPDATE cases SET state = 'stage_3.support' WHERE pupil = 'P2'")
    messages = {b.where: b.message for b in verify(db).breaches if b.kind == "case_row"}
    assert messages[CASE_P1] == "status is 'closed' but the history gives 'open'"
    assert messages[f"{SCHOOL}/P2"].startswith("state is 'stage_3.support' but the history")


def test_a_deleted_seal_fails_verify_and_audit_seal_refuses_to_seal_over_it(db: str) -> None:
    tamper(
        db,
        "DELETE FROM mark_seals WHERE seq = 8",  # the eighth marks import (the roster is import 1)
        "UPDATE marks SET code = 'O' WHERE import_id = 9 AND code = '/'",
    )
    report = verify(db)
    [breach] = report.breaches
    assert (breach.where, breach.kind) == (f"marks of {SCHOOL}", "seal_missing")
    assert "import 9: 8 rows under no seal, but its import was sealed by audit seal" in str(breach)
    store = Store(db)
    try:
        refused = r"import\(s\) 9 were not imported --no-seal"
        with pytest.raises(InputError, match=refused), store.engine.begin() as conn:
            seal_imports(conn, local(LAST_DAY, 21))
        assert not verify(db).ok  # nothing was sealed
        with store.engine.begin() as conn:
            forced = Forced("s.jones", "compared with the MIS export")
            assert seal_imports(conn, local(LAST_DAY, 21), forced) == [(SCHOOL, 9, 8)]
        with store.engine.connect() as conn:
            how = conn.exec_driver_sql("SELECT seal FROM imports WHERE id = 9").scalar()
            logged = conn.exec_driver_sql("SELECT actor, action, detail FROM audit_log").one()
    finally:
        store.dispose()
    assert verify(db).ok and how == "forced"
    assert tuple(logged) == (
        "s.jones", "seal_forced",
        "imports 9 sealed though not imported --no-seal: compared with the MIS export",
    )  # fmt: skip


def test_marks_imported_without_a_seal_only_warn_until_sealed(db: str, tmp_path: Path) -> None:
    trust = load_trust(write_trust(tmp_path / "trust"))
    path = tmp_path / "backfill.csv"
    path.write_text(f"{HEADER}\n{SCHOOL},P1,2025-09-10,AM,/,,2025-09-16T11:00:00+01:00\n")
    store = Store(db)
    try:
        marks = read_marks(path, trust.calendars(), aliases=trust.aliases)
        store.import_marks(marks, file=path, now=local(date(2025, 9, 16), 17), by="t", seal=False)
        report = verify(db)
        assert report.ok and report.warnings == [
            f"marks of {SCHOOL}: import 10 (1 rows, imported --no-seal) is not sealed yet: "
            "run `escalation-flow audit seal`"
        ]
        with store.engine.begin() as conn:
            assert seal_imports(conn, local(date(2025, 9, 16), 18)) == [(SCHOOL, 10, 1)]
    finally:
        store.dispose()
    report = verify(db)
    assert report.ok and not report.warnings


def test_a_schools_marks_deleted_with_their_seals_are_named_by_their_imports(db: str) -> None:
    tamper(db, "DELETE FROM mark_seals", "DELETE FROM marks")
    report = verify(db)
    assert {(b.where, b.kind) for b in report.breaches} == {
        (f"import {i}", "mark_deleted") for i in range(2, 10)  # the roster is import 1
    }
    assert "8 of the 8 marks it imported are gone" in report.breaches[0].message
