"""Seals made from the import's columns (format 2, issue 13) and seals made before them.

- the digest from columns is ``mark_digest`` of the same rows, whatever their text;
- an import sealed from memory holds the seal the stored rows give when read back;
- a database whose marks main sealed (format 1), with main's checkpoint of it, still verifies
  with today's code, names a row edited under either format, and stores the same marks today's
  import stores from the same file.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, audit_store
from escalation_flow.adapters.store import seal_columns as sc
from escalation_flow.adapters.store.audit_store import load_seals, mark_rows
from escalation_flow.adapters.store.seals import (
    MarkRow,
    blob_format,
    columns_of,
    mark_digest,
    row_fingerprints,
)
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.cli import main
from tests.burst_builders import fresh_postgres_database, postgres_admin_url

DATA = Path(__file__).resolve().parents[1] / "data"
MAIN_DB = DATA / "main-c03cf29.sqlite.gz"
MAIN_CHECKPOINT = DATA / "main-c03cf29.checkpoint.json"
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-trust"

_text = st.text(
    alphabet=st.sampled_from(
        ["A", "B", "|", "é", "0", "9", " ", "\t", "\u0301", "\U0001f600", "\uffff"]
    )
)
_rows = st.lists(
    st.builds(
        MarkRow,
        pupil=_text,
        day=st.dates(date(1999, 1, 1), date(2031, 12, 31)),
        session=st.sampled_from(["AM", "PM"]),
        code=st.sampled_from(["/", "\\", "L", "N", "U", "#"]),
        recorded_at=st.integers(-(2**62), 2**62),
        minutes_late=st.none() | st.integers(0, 32767),
        imported_at=st.integers(0, 2**62),
        recorded_by=st.none() | _text,
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_rows)
def test_the_digest_from_columns_is_the_digest_of_the_rows(rows: list[MarkRow]) -> None:
    assert sc.digest(columns_of(rows)) == mark_digest(rows)


@settings(max_examples=200, deadline=None)
@given(_rows, st.integers(0, 2**62))
def test_the_digest_of_one_import_s_rows_sharing_their_imported_at_is_that_of_the_rows(
    rows: list[MarkRow], imported_at: int
) -> None:
    # an import's rows are all imported at one time: its text is made once, not once a row
    one_import = [replace(r, imported_at=imported_at) for r in rows]
    assert sc.digest(columns_of(one_import)) == mark_digest(one_import)


@settings(max_examples=100, deadline=None)
@given(_rows)
def test_format_2_fingerprints_are_those_of_each_row_sorted(rows: list[MarkRow]) -> None:
    blob = sc.fingerprints(columns_of(rows))
    assert blob_format(blob, len(rows)) == 2
    assert blob[len(sc.FORMAT2_TAG) :] == b"".join(sorted(row_fingerprints(rows, 2)))


def test_format_2_fingerprints_change_with_every_field() -> None:
    row = MarkRow("P1", date(2025, 9, 10), "AM", "L", 1757491200000000, 12, 1757527200000000)
    changed = [
        MarkRow("P2", *list(row.__dict__.values())[1:]),
        MarkRow(row.pupil, date(2025, 9, 11), *list(row.__dict__.values())[2:]),
        row.__class__(**{**row.__dict__, "session": "PM"}),
        row.__class__(**{**row.__dict__, "code": "U"}),
        row.__class__(**{**row.__dict__, "recorded_at": row.recorded_at + 1}),
        row.__class__(**{**row.__dict__, "minutes_late": None}),
        row.__class__(**{**row.__dict__, "imported_at": row.imported_at + 1}),
        row.__class__(**{**row.__dict__, "recorded_by": "j.bloggs"}),
        row.__class__(**{**row.__dict__, "recorded_by": ""}),
    ]
    [mine] = row_fingerprints([row], 2)
    prints = row_fingerprints(changed, 2)
    assert mine not in prints and len(set(prints)) == len(prints)
    # a row of the same session keeps its cell's four bytes; another session's differ
    assert [p[:4] == mine[:4] for p in prints] == [False, False, False, *[True] * 6]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is not set or does not answer")
    with fresh_postgres_database(admin) as url:
        yield url


def _marks_file(folder: Path, last_day: str = "2025-09-12") -> Path:
    lines = (SAMPLE / "marks.csv").read_text(encoding="utf-8").splitlines()
    chosen = [r for r in lines[1:] if r.split(",")[2] <= last_day]
    out = folder / f"marks-to-{last_day}.csv"
    out.write_text("\n".join([lines[0], *chosen]) + "\n", encoding="utf-8")
    return out


def _import(url: str, path: Path, seal: bool = True) -> None:
    trust = load_trust(SAMPLE / "trust.yaml")
    store = Store(url)
    try:
        store.migrate()
        store.upsert_schools(trust)
        result = read_marks(path, trust.calendars(), aliases=trust.aliases)
        store.import_marks(result, file=path, now=datetime.now(UTC), by="test", seal=seal)
    finally:
        store.dispose()


def _stored_seals_match_read_back(url: str) -> int:
    store = Store(url)
    checked = 0
    try:
        with store.engine.connect() as conn:
            schools = dict(conn.exec_driver_sql("SELECT id, key FROM schools").all())
            for school_id, key in schools.items():
                rows = mark_rows(conn, school_id)
                for seal in load_seals(conn, school_id, key):
                    cols = columns_of(rows.get(seal.import_id, []))
                    assert (seal.rows, seal.digest) == (len(cols), sc.digest(cols))
                    assert seal.fingerprints == sc.fingerprints(cols)
                    checked += 1
    finally:
        store.dispose()
    return checked


def test_an_import_sealed_from_memory_holds_the_seal_its_stored_rows_give(
    tmp_path: Path, any_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_back: list[int] = []

    def counted(conn: Connection, school_id: int, imports: object = None) -> object:
        read_back.append(school_id)
        return mark_rows(conn, school_id, imports)  # type: ignore[arg-type]

    monkeypatch.setattr(audit_store, "mark_rows", counted)
    _import(any_database, _marks_file(tmp_path, "2025-09-12"))
    assert read_back == []  # every row was new: sealed from the columns in memory
    # overlapping the first: only the new rows are stored, so they are read back to be sealed
    _import(any_database, _marks_file(tmp_path, "2025-09-19"))
    assert len(read_back) == 5
    assert _stored_seals_match_read_back(any_database) == 10


@pytest.fixture
def main_db(tmp_path: Path) -> dict[str, str]:
    db = tmp_path / "main.sqlite"
    with gzip.open(MAIN_DB, "rb") as packed, db.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    env = {
        "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{db}",
        "ESCALATION_FLOW_TRUST_FILE": str(SAMPLE / "trust.yaml"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        "DB_FILE": str(db),
    }
    assert run(env, "db", "upgrade").exit_code == 0
    return env


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def query(env: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(env["DB_FILE"])) as conn:
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows


def test_seals_main_made_verify_with_main_s_checkpoint(main_db: dict[str, str]) -> None:
    prints = query(main_db, "SELECT rows, fingerprints FROM mark_seals")
    assert prints and all(blob_format(bytes(b), int(n)) == 1 for n, b in prints)  # type: ignore[arg-type]
    result = run(main_db, "audit", "verify", "--against", str(MAIN_CHECKPOINT))
    assert result.exit_code == 0, result.output


def test_a_row_main_sealed_then_edited_is_named(main_db: dict[str, str]) -> None:
    query(
        main_db,
        "UPDATE marks SET code = 'G' WHERE (pupil_id, date, session) IN "
        "(SELECT pupil_id, date, session FROM marks ORDER BY pupil_id, date LIMIT 1)",
    )
    result = run(main_db, "audit", "verify")
    assert result.exit_code == 1
    assert "mark_edited" in result.output and "code G" in result.output


def test_today_s_seals_follow_main_s_and_both_verify(
    main_db: dict[str, str], tmp_path: Path
) -> None:
    later = _marks_file(tmp_path, "2025-09-26")
    assert run(main_db, "import", "marks", str(later), "--by", "test").exit_code == 0
    formats = query(main_db, "SELECT import_id, rows, fingerprints FROM mark_seals")
    found = {(int(i), blob_format(bytes(b), int(n))) for i, n, b in formats}  # type: ignore[arg-type]
    assert {f for _, f in found} == {1, 2}
    kept = tmp_path / "checkpoint.json"
    assert run(main_db, "audit", "checkpoint", "--out", str(kept)).exit_code == 0
    for extra in ((), ("--against", str(MAIN_CHECKPOINT)), ("--against", str(kept))):
        result = run(main_db, "audit", "verify", *extra)
        assert result.exit_code == 0, result.output
    query(
        main_db,
        "UPDATE marks SET minutes_late = 59 WHERE code = 'L' AND import_id = "
        "(SELECT max(id) FROM imports) AND date > '2025-09-12' "
        "AND (pupil_id, date, session) IN (SELECT pupil_id, date, session FROM marks "
        "WHERE code = 'L' AND date > '2025-09-12' ORDER BY pupil_id, date LIMIT 1)",
    )
    result = run(main_db, "audit", "verify")
    assert result.exit_code == 1 and "mark_edited" in result.output, result.output


def test_main_and_today_store_the_same_marks_from_the_same_file(
    main_db: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'today.sqlite'}"
    _import(url, _marks_file(tmp_path, "2025-09-12"))
    sql = (
        "SELECT s.key, p.mis_id, m.date, m.session, m.recorded_at, m.code, m.minutes_late, "
        "m.recorded_by FROM marks m JOIN schools s ON s.id = m.school_id "
        "JOIN pupils p ON p.id = m.pupil_id ORDER BY 1, 2, 3, 4, 5, 6"
    )
    theirs = query(main_db, sql)
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        ours = conn.execute(sql).fetchall()
    assert len(ours) > 1000 and ours == theirs


def _stored(url: str, last_day: str) -> list[tuple[object, ...]]:
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT s.key, p.mis_id, m.date, m.session, m.recorded_at, m.code, "
                "m.minutes_late, m.recorded_by FROM marks m JOIN schools s ON s.id = m.school_id "
                f"JOIN pupils p ON p.id = m.pupil_id WHERE m.date <= '{last_day}' "
                "ORDER BY 1, 2, 3, 4, 5, 6"
            ).all()
            return [tuple(r) for r in rows]
    finally:
        store.dispose()


def test_a_school_s_first_import_stores_what_an_import_into_its_marks_stores(
    tmp_path: Path, any_database: str
) -> None:
    """PostgreSQL copies a school's first import straight into ``marks``; later imports go
    through the staging table, which skips rows already stored: both store the same."""
    first = _marks_file(tmp_path, "2025-09-12")
    _import(any_database, first)
    if any_database.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'other.sqlite'}"
        _import(other, _marks_file(tmp_path, "2025-09-04"))  # the school has marks already
        _import(other, first)
        assert _stored(other, "2025-09-12") == _stored(any_database, "2025-09-12")
        return
    admin = postgres_admin_url()
    assert admin is not None
    with fresh_postgres_database(admin) as other:
        _import(other, _marks_file(tmp_path, "2025-09-04"))
        _import(other, first)
        ours, theirs = _stored(any_database, "2025-09-12"), _stored(other, "2025-09-12")
        assert len(ours) > 1000 and ours == theirs
