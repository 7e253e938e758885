"""The store, one contract for SQLite and PostgreSQL: imports are idempotent and all-or-nothing,
amendments are kept, and marks come back as they went in.

PostgreSQL runs when ESCALATION_FLOW_TEST_POSTGRES_URL names a server; each test gets a schema
of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from escalation_flow.adapters import store as store_module
from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.adapters.register_files import MarksRead, read_marks
from escalation_flow.adapters.store import Store, bulk
from escalation_flow.adapters.store.audit_reads import stored_marks
from escalation_flow.adapters.store.schema import alembic_config, current_revision, upgrade
from escalation_flow.adapters.trust_files import SchoolConfig, Trust
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.marks import MarkTable, PupilRecord, Roster, to_micros
from escalation_flow.errors import CalendarError, NotFoundError, StoreError

CALENDARS = Path(__file__).resolve().parents[2] / "config" / "calendars"
HEADER = "school,pupil,date,session,code,minutes_late,recorded_at"
T0 = datetime(2025, 9, 10, 18, 0, tzinfo=UTC)
Version = tuple[str, int, str, int, int]  # pupil, session, code, minutes late, recorded_at


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_calendar(CALENDARS / "england-2025-26.yaml")


def _trust(*ids: str) -> Trust:
    schools = {
        i: SchoolConfig(i, f"{i.title()} School", None, Path("flow.yaml"), (), None, {})
        for i in ids
    }
    return Trust("test-trust", "Europe/London", Path("trust.yaml"), schools)


def _postgres_url() -> str:
    url = os.environ.get("ESCALATION_FLOW_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is not set")
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {url} cannot be reached: {exc.orig}")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty database with no schema yet."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'nested' / 'store.sqlite'}")
        yield store
        store.dispose()
        return
    url = _postgres_url()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    store = Store(make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def store(blank: Store) -> Store:
    blank.migrate()
    blank.upsert_schools(_trust("oaks", "pines"))
    return blank


def marks_file(tmp_path: Path, *rows: str, name: str = "marks.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def read(path: Path, calendar: SchoolCalendar) -> MarksRead:
    return read_marks(path, {"oaks": calendar, "pines": calendar})


def versions(table: MarkTable) -> set[Version]:
    return {
        (table.pupils[p], int(s), CODE_OF_ID[c], int(m), int(r))
        for p, s, c, m, r in zip(
            table.pupil,
            table.session,
            table.code,
            table.minutes_late,
            table.recorded_at,
            strict=True,
        )
    }


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


ROWS = (
    "oaks,P1,2025-09-03,AM,/,,2025-09-03T08:50:00+01:00",
    "oaks,P1,2025-09-03,PM,L,12,2025-09-03T13:20:00+01:00",
    "oaks,P2,2025-09-03,AM,N,,2025-09-03T09:30:00+01:00",
    "pines,P1,2025-09-04,PM,#,,2025-09-04T13:00:00+01:00",
)


def test_a_database_without_the_schema_is_refused_until_upgraded(blank: Store) -> None:
    with pytest.raises(StoreError, match="run `escalation-flow db upgrade`"):
        blank.require_current()
    blank.migrate()
    blank.migrate()  # a second upgrade is a no-op
    blank.require_current()


def test_marks_come_back_as_they_went_in(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    result = read(marks_file(tmp_path, *reversed(ROWS)), calendar)  # any order goes
    summary = store.import_marks(result, file=Path("marks.csv"), now=T0, by="tester")
    assert (summary.rows_read, summary.imported, summary.already_known) == (4, 4, 0)
    for school in ("oaks", "pines"):
        assert versions(store.load_marks(school, calendar)) == versions(result.tables[school])
    loaded = store.load_trust_marks({"oaks": calendar, "pines": calendar})
    assert versions(loaded["pines"]) == versions(result.tables["pines"])


def test_importing_the_same_file_again_changes_nothing(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    result = read(marks_file(tmp_path, *ROWS), calendar)
    store.import_marks(result, file=Path("marks.csv"), now=T0, by="tester")
    again = store.import_marks(result, file=Path("marks.csv"), now=T0 + timedelta(1), by="tester")
    assert (again.imported, again.already_known) == (0, 4)
    assert again.line() == "marks.csv: 4 rows read, 0 imported, 4 already known, 0 rejected"
    assert count(store, "marks") == 4
    assert count(store, "imports") == 2


def test_an_amendment_is_a_second_version_beside_the_first(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    first = read(marks_file(tmp_path, ROWS[2]), calendar)
    store.import_marks(first, file=Path("a.csv"), now=T0, by="tester")
    amended = ROWS[2].replace(",N,,2025-09-03T09:30:00", ",I,,2025-09-05T11:00:00")
    second = read(marks_file(tmp_path, amended), calendar)
    assert store.import_marks(second, file=Path("b.csv"), now=T0, by="tester").imported == 1
    recorded = [
        to_micros(datetime(2025, 9, 3, 8, 30, tzinfo=UTC)),
        to_micros(datetime(2025, 9, 5, 10, 0, tzinfo=UTC)),
    ]
    assert versions(store.load_marks("oaks", calendar)) == {
        ("P2", 0, "N", -1, recorded[0]),
        ("P2", 0, "I", -1, recorded[1]),
    }


def test_marks_without_recorded_at_are_recorded_at_import_unless_they_repeat_the_current_mark(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    path = marks_file(tmp_path, "oaks,P1,2025-09-03,AM,N,,", "oaks,P1,2025-09-03,PM,L,5,")
    store.import_marks(read(path, calendar), file=path, now=T0, by="tester")
    again = store.import_marks(read(path, calendar), file=path, now=T0 + timedelta(1), by="t")
    assert again.imported == 0
    changed = marks_file(tmp_path, "oaks,P1,2025-09-03,AM,I,,", "oaks,P1,2025-09-03,PM,L,5,")
    later = T0 + timedelta(days=2)
    assert store.import_marks(read(changed, calendar), file=path, now=later, by="t").imported == 1
    assert versions(store.load_marks("oaks", calendar)) == {
        ("P1", 0, "N", -1, to_micros(T0)),
        ("P1", 1, "L", 5, to_micros(T0)),
        ("P1", 0, "I", -1, to_micros(later)),
    }


def test_a_mark_repeated_without_its_time_is_known_whatever_the_other_sessions_times(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    # each session's newest version is its own: 08:50 for AM, 13:20 for PM
    timed = marks_file(tmp_path, *ROWS[:2], name="timed.csv")
    store.import_marks(read(timed, calendar), file=timed, now=T0, by="tester")
    untimed = marks_file(
        tmp_path, "oaks,P1,2025-09-03,AM,/,,", "oaks,P1,2025-09-03,PM,L,12,", name="untimed.csv"
    )
    again = store.import_marks(read(untimed, calendar), file=untimed, now=T0, by="tester")
    assert again.imported == 0
    assert count(store, "marks") == 2


def test_a_failed_import_writes_nothing(
    store: Store, tmp_path: Path, calendar: SchoolCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = read(marks_file(tmp_path, *ROWS), calendar)
    real = bulk.insert_marks
    calls = []

    def fail_on_the_second_school(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "insert_marks", fail_on_the_second_school)
    with pytest.raises(RuntimeError, match="disk full"):
        store.import_marks(result, file=Path("marks.csv"), now=T0, by="tester")
    assert (count(store, "marks"), count(store, "imports"), count(store, "pupils")) == (0, 0, 0)


def test_marks_of_a_school_the_store_does_not_know_are_refused(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    result = read_marks(marks_file(tmp_path, ROWS[0].replace("oaks", "elms")), {"elms": calendar})
    with pytest.raises(NotFoundError, match="elms not in the store"):
        store.import_marks(result, file=Path("marks.csv"), now=T0, by="tester")
    assert count(store, "imports") == 0


def test_the_import_is_recorded_with_its_file_and_times_in_utc(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    path = marks_file(tmp_path, *ROWS)
    result = read(path, calendar)
    london = timezone(timedelta(hours=1))
    started = datetime(2025, 9, 10, 19, 0, tzinfo=london)
    store.import_marks(result, file=path, now=started, by="tester")
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(store_module.store.Import)).one()._mapping
    assert row["file_name"] == str(path)
    assert row["sha256"] == result.sha256
    assert (row["rows"], row["accepted"], row["imported"], row["rejected"]) == (4, 4, 4, 0)
    assert row["started_at"] == started
    assert row["started_at"].utcoffset() == timedelta(0)
    assert row["imported_by"] == "tester"


def test_marks_on_days_the_calendar_no_longer_allows_are_reported(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    store.import_marks(read(marks_file(tmp_path, *ROWS), calendar), file=Path("m"), now=T0, by="t")
    text = (CALENDARS / "england-2025-26.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("closures:", "closures:\n  - 2025-09-04"), encoding="utf-8")
    with pytest.raises(CalendarError, match="holds marks on 2025-09-04"):
        store.load_marks("pines", load_calendar(changed))


def test_a_school_without_marks_loads_empty(store: Store, calendar: SchoolCalendar) -> None:
    assert len(store.load_marks("oaks", calendar)) == 0


def test_schools_are_added_and_renamed_from_the_trust(store: Store) -> None:
    trust = _trust("oaks", "elms")
    trust.schools["oaks"] = SchoolConfig("oaks", "Oak Academy", "100001", Path("f"), (), None, {})
    store.upsert_schools(trust)
    assert store.school_ids() == ["elms", "oaks", "pines"]
    with store.engine.connect() as conn:
        name, urn = conn.execute(sa.text("SELECT name, urn FROM schools WHERE key = 'oaks'")).one()
    assert (name, urn) == ("Oak Academy", "100001")


def test_the_same_trust_upserted_again_updates_only_the_school_that_changed(store: Store) -> None:
    """A daemon's start upserts the trust: a school whose name and URN stand is not written."""
    updates: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    trust = _trust("oaks", "pines")
    sa.event.listen(store.engine, "before_cursor_execute", count)
    store.upsert_schools(trust)
    assert updates == []
    trust.schools["pines"] = SchoolConfig("pines", "Pine Academy", None, Path("f"), (), None, {})
    store.upsert_schools(trust)
    assert len(updates) == 1
    with store.engine.connect() as conn:
        names = dict(conn.execute(sa.text("SELECT key, name FROM schools")).all())
    assert names == {"oaks": "Oaks School", "pines": "Pine Academy"}


def test_a_roster_adds_pupils_and_a_later_one_updates_them(store: Store, tmp_path: Path) -> None:
    p1 = PupilRecord("oaks", "P1", "Ava", "Wood", "3", date(2017, 9, 17), date(2022, 9, 1))
    first = {"oaks": Roster("oaks", {"P1": p1})}
    summary = store.import_roster(first, file=tmp_path / "r.csv", now=T0, by="tester")
    assert (summary.rows_read, summary.imported) == (1, 1)
    assert store.load_roster("oaks").pupils == {"P1": p1}
    moved = PupilRecord("oaks", "P1", "Ava", "Wood", "4", date(2017, 9, 17), left=date(2026, 1, 9))
    p2 = PupilRecord("oaks", "P2")
    second = {"oaks": Roster("oaks", {"P1": moved, "P2": p2})}
    summary = store.import_roster(second, file=tmp_path / "r.csv", now=T0, by="tester")
    assert summary.line().endswith("2 pupils read, 1 new, 1 already known (updated)")
    assert store.load_roster("oaks").pupils == {"P1": moved, "P2": p2}
    assert store.load_roster("pines").pupils == {}


def test_an_in_memory_database_works_the_same_way(tmp_path: Path, calendar: SchoolCalendar) -> None:
    store = Store("sqlite://")
    store.migrate()
    store.upsert_schools(_trust("oaks", "pines"))
    result = read(marks_file(tmp_path, *ROWS), calendar)
    assert store.import_marks(result, file=Path("m"), now=T0, by="t").imported == 4
    loaded = store.load_trust_marks({"oaks": calendar, "pines": calendar})
    assert versions(loaded["oaks"]) == versions(result.tables["oaks"])
    store.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A SQLite file with two schools (the joined-text load is SQLite's)."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.migrate()
    store.upsert_schools(_trust("oaks", "pines"))
    yield store
    store.dispose()


def _oaks(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT id FROM schools WHERE key = 'oaks'").scalar_one())


def _sqlite_rows(store: Store, calendar: SchoolCalendar, school_id: int) -> tuple[object, object]:
    """A school's load read as one joined text (the store's way) and row by row."""
    from escalation_flow.adapters.store.mark_texts import load_sql

    sql = load_sql("sqlite", school_id, calendar.first_day, calendar.last_day)
    with store.engine.connect() as conn:
        return bulk.fetch(conn, sql), bulk._fetch_sqlite_rows(conn, sql, bulk.LOADED_SCHEMA)


def test_sqlite_loads_every_version_in_the_order_of_pupil_session_time_and_code(
    sqlite_store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    store = sqlite_store
    # Two versions of each session (the later first), pupils and days in reverse order, late
    # minutes and none.
    rows = [
        f"oaks,P{p},2025-09-{d:02d},{s},{c},{m},2025-09-{d:02d}T{h}:00:00+01:00"
        for p in range(12, 0, -1)
        for d in (5, 4, 3)
        for s in ("PM", "AM")
        for c, m, h in (("L", "7", 11), ("/", "", "09"))
    ]
    result = read(marks_file(tmp_path, *rows), calendar)
    assert store.import_marks(result, file=Path("m"), now=T0, by="t").imported == len(rows)
    joined, one_by_one = _sqlite_rows(store, calendar, _oaks(store))
    assert joined.num_rows == len(rows)
    assert joined.equals(one_by_one)
    loaded = store.load_marks("oaks", calendar)
    first = loaded.pupil == loaded.pupil[0]  # the pupil added first: its sessions in order
    assert list(loaded.session[first]) == sorted(loaded.session[first])
    assert loaded.recorded_at[0] < loaded.recorded_at[1]
    assert [CODE_OF_ID[c] for c in loaded.code[:2]] == ["/", "L"]  # 09:00's, then 11:00's


def test_sqlite_reads_rows_one_by_one_when_a_stored_text_would_split_the_joined_one(
    sqlite_store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    store = sqlite_store
    result = read(marks_file(tmp_path, *ROWS), calendar)
    store.import_marks(result, file=Path("m"), now=T0, by="t")
    with store.engine.begin() as conn:  # not a code an import lets in: written behind its back
        conn.exec_driver_sql("UPDATE marks SET code = 'a,b' WHERE code = 'L'")
    joined, one_by_one = _sqlite_rows(store, calendar, _oaks(store))
    assert joined.equals(one_by_one)
    assert "2025-09-03PMa,b" in joined.column("mark").to_pylist()


def test_sqlite_reads_rows_one_by_one_when_the_joined_text_is_longer_than_sqlite_allows(
    sqlite_store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    store = sqlite_store
    import sqlite3

    result = read(marks_file(tmp_path, *ROWS), calendar)
    store.import_marks(result, file=Path("m"), now=T0, by="t")
    from escalation_flow.adapters.store.mark_texts import load_sql

    sql = load_sql("sqlite", _oaks(store), calendar.first_day, calendar.last_day)
    with store.engine.connect() as conn:
        one_by_one = bulk._fetch_sqlite_rows(conn, sql, bulk.LOADED_SCHEMA)
        # SQLite's limit on a text (1 GB by default) made small: the joined text is over it
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 40)
        try:
            joined = bulk.fetch(conn, sql)
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000_000)
    assert joined.equals(one_by_one.cast(bulk.LOADED_SCHEMA))


# -- who recorded each mark in the MIS ----------------------------------------------------------


def recorded_by_column(store: Store) -> dict[tuple[str, str, str], str | None]:
    """(pupil, date, code) -> the stored ``recorded_by``, read with plain SQL."""
    query = (
        "SELECT p.mis_id, m.date, m.code, m.recorded_by FROM marks m "
        "JOIN pupils p ON p.id = m.pupil_id"
    )
    with store.engine.connect() as conn:
        return {(r[0], str(r[1]), r[2]): r[3] for r in conn.exec_driver_sql(query)}


def test_who_recorded_each_mark_is_stored_and_read_back_for_the_auditor(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    path = tmp_path / "named.csv"
    path.write_text(
        HEADER + ",recorded_by\n"
        "oaks,P1,2025-09-03,AM,N,,2025-09-03T08:50:00+01:00,Mrs A. Smith\n"
        'oaks,P1,2025-09-03,AM,I,,2025-09-04T10:00:00+01:00,"Bloggs, J"\n'
        "oaks,P2,2025-09-03,PM,L,5,,office\n"  # no recorded_at: the staging path
        "oaks,P2,2025-09-03,AM,/,,2025-09-03T08:51:00+01:00,\n",  # out of order: sorted first
        encoding="utf-8",
    )
    summary = store.import_marks(read(path, calendar), file=path, now=T0, by="tester")
    assert summary.imported == 4
    assert recorded_by_column(store) == {
        ("P1", "2025-09-03", "N"): "Mrs A. Smith",
        ("P1", "2025-09-03", "I"): "Bloggs, J",
        ("P2", "2025-09-03", "/"): None,
        ("P2", "2025-09-03", "L"): "office",
    }
    with store.engine.connect() as conn:
        sid = conn.exec_driver_sql("SELECT id FROM schools WHERE key = 'oaks'").scalar_one()
        table = stored_marks(conn, sid, "oaks", calendar).table
    named = {
        (table.pupils[table.pupil[r]], CODE_OF_ID[table.code[r]]): table.recorder(r)
        for r in range(len(table))
    }
    assert named == {
        ("P1", "N"): "Mrs A. Smith", ("P1", "I"): "Bloggs, J", ("P2", "/"): None,
        ("P2", "L"): "office",
    }  # fmt: skip


def test_marks_from_a_file_without_recorded_by_store_no_name(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    path = marks_file(tmp_path, *ROWS, "oaks,P3,2025-09-03,AM,N,,")
    store.import_marks(read(path, calendar), file=path, now=T0, by="tester")
    assert set(recorded_by_column(store).values()) == {None}
    assert count(store, "marks") == 5


def test_the_recorded_by_migration_goes_down_and_up_again_keeping_the_marks(
    store: Store, tmp_path: Path, calendar: SchoolCalendar
) -> None:
    from alembic import command

    store.import_marks(read(marks_file(tmp_path, *ROWS), calendar), file=Path("m"), now=T0, by="t")
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert current_revision(store.engine) == "0004"
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("marks")}
    assert "recorded_by" not in columns and count(store, "marks") == 4
    upgrade(store.engine)
    store.require_current()
    assert set(recorded_by_column(store).values()) == {None}
    assert versions(store.load_marks("oaks", calendar)) == versions(
        read(marks_file(tmp_path, *ROWS), calendar).tables["oaks"]
    )
