"""``restore`` never throws away what people did without saying so: each thing the newcomer did
after a backup (a staff member added, contacts and the roster imported, a penalty notice, a
retention run) makes ``restore`` refuse without ``--force``, naming it with its count, and
``--force`` says the same as what it replaced. The state is the retention builders' seven-year
trust (staff, roster, contacts, cases and a policy), on SQLite and on PostgreSQL when set up.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.register_files import read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.penalty_notices import TABLE as NOTICES
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.backups.compare import TABLES, Rows, table_lines
from escalation_flow.bootstrap import Root
from escalation_flow.cli import main
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role
from tests.daemon_builders import RootedRunner, clone, postgres_admin_url
from tests.retention_builders import SCHOOL, TODAY, built_database, instant
from tests.staff_builders import NO_LOGIN

POLICY = "  registers_years: 6\n  closed_cases_years: 6\n"


def _postgres_or_skip() -> str:
    for name in ("pg_dump", "pg_restore"):
        if shutil.which(name) is None:
            pytest.skip(f"{name} is not installed (apt-get install postgresql-client)")
    return postgres_admin_url()  # skips when ESCALATION_FLOW_TEST_POSTGRES_URL is not set


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp(f"restore-compare-{request.param}")
    if request.param == "postgresql":
        _postgres_or_skip()
    with built_database(request.param, folder, POLICY) as url:
        yield url, folder


@pytest.fixture
def db(
    template: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url, folder = template
    monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(folder / "trust.yaml"))
    for copy in clone(url, tmp_path):
        monkeypatch.setenv("ESCALATION_FLOW_DATABASE_URL", copy)
        yield copy


def cli(hour: int, *args: str) -> Result:
    runner = RootedRunner(Root(SimulatedClock(instant(TODAY, hour))))
    return runner.invoke(main, list(args), catch_exceptions=False)


def backup_then(db: str, tmp_path: Path, after: Callable[[Store], None]) -> tuple[Path, str]:
    """A backup at 15:00, then ``after`` on the live database; the backup and the database's
    staff as ``users list`` shows them (to see a refusal changed nothing)."""
    backup = tmp_path / "before.backup"
    made = cli(15, "backup", "--to", str(backup))
    assert made.exit_code == 0, made.output
    store = Store(db)
    try:
        after(store)
    finally:
        store.dispose()
    return backup, cli(16, "users", "list").output


def refused_then_forced(backup: Path, held: str, *named: str) -> None:
    """``restore`` refuses (exit 4), naming each of ``named``, and changes nothing; with
    ``--force`` it restores and says it replaced each of them."""
    refused = cli(17, "restore", str(backup))
    assert refused.exit_code == 4, refused.output
    for words in named:
        assert words in refused.output, refused.output
    assert cli(17, "users", "list").output == held
    forced = cli(18, "restore", str(backup), "--force")
    assert forced.exit_code == 0, forced.output
    replaced = forced.output.split("replaced (--force):", 1)[-1]
    for words in named:
        assert words in replaced, forced.output


# -- the newcomer's cases -----------------------------------------------------------------------


def test_staff_added_after_the_backup_is_named_and_kept_without_force(
    db: str, tmp_path: Path
) -> None:
    def add_staff(store: Store) -> None:
        staff = StaffStore(store.engine)
        for name in ("newcomer", "second", "third"):
            grant = Grant(Role.ATTENDANCE_TEAM, None)
            staff.add_staff(name, name.title(), NO_LOGIN, [grant], instant(TODAY, 15))

    backup, held = backup_then(db, tmp_path, add_staff)

    assert "newcomer" in held
    refused_then_forced(backup, held, "3 staff accounts", "3 staff roles")


def test_contacts_and_roster_imported_after_the_backup_are_named(db: str, tmp_path: Path) -> None:
    def import_both(store: Store) -> None:
        contacts = tmp_path / "contacts.csv"
        contacts.write_text(
            "school,pupil,contact,name,relationship,parental_responsibility,lives_with_pupil,"
            "address,email,telephone,priority,may_be_contacted,recorded_at\n"
            f"{SCHOOL},P09,C90,Ann New,mother,yes,yes,1 New Lane,ann@example.org,,1,yes,\n"
            f"{SCHOOL},P10,C91,Bo New,father,yes,yes,2 New Lane,,,1,yes,\n",
            encoding="utf-8",
        )
        now = instant(TODAY, 15)
        store.import_contacts(read_contacts(contacts, {SCHOOL}, now=now), now=now, by="test")
        roster = tmp_path / "roster.csv"
        roster.write_text(
            "school,pupil,forename,surname,year_group,date_of_birth,admitted,left\n"
            f"{SCHOOL},P13,Nia,Newly,7,,,\n",
            encoding="utf-8",
        )
        result = read_roster(roster, {SCHOOL})
        store.import_roster(result, file=roster, now=now, by="test")

    backup, held = backup_then(db, tmp_path, import_both)

    refused_then_forced(backup, held, "2 contact records", "1 pupil on the roster", "2 imports")


def test_a_penalty_notice_and_its_change_after_the_backup_are_named(
    db: str, tmp_path: Path
) -> None:
    def record_notice(store: Store) -> None:
        with store.engine.begin() as conn:
            school_id = conn.exec_driver_sql("SELECT id FROM schools").scalar_one()
            for version, status in ((1, "issued"), (2, "paid")):
                conn.execute(
                    NOTICES.insert().values(
                        notice=7, version=version, school_id=school_id, pupil="P09",
                        parent="C09", kind="penalty_notice", offence="unauthorised_absence",
                        sessions="[]", issued_on=date(2026, 7, 1), status=status,
                        amount_reduced=80, amount_full=160, recorded_by="lead",
                        recorded_at=instant(TODAY, 14 + version), note="",
                    )
                )  # fmt: skip

    backup, held = backup_then(db, tmp_path, record_notice)

    refused_then_forced(backup, held, "1 penalty notice", "1 penalty notice change")


def test_a_retention_run_after_the_backup_is_named_with_what_it_erased(
    db: str, tmp_path: Path
) -> None:
    backup = tmp_path / "before.backup"
    assert cli(15, "backup", "--to", str(backup)).exit_code == 0
    ran = cli(16, "retention", "apply", "--by", "dpo")
    assert ran.exit_code == 0, ran.output
    held = cli(16, "users", "list").output

    refused_then_forced(
        backup, held, "1 retention run (it erased 2 cases",
        "a restore brings them back; run retention apply again after",
    )  # fmt: skip


def test_a_backup_restored_over_the_database_it_was_taken_from_is_not_refused(
    db: str, tmp_path: Path
) -> None:
    backup = tmp_path / "same.backup"
    assert cli(15, "backup", "--to", str(backup)).exit_code == 0

    restored = cli(16, "restore", str(backup))

    assert restored.exit_code == 0, restored.output
    assert "replaced (--force)" not in restored.output


def test_a_backup_taken_in_another_time_zone_compares_alike(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = tmp_path / "kolkata.backup"
    monkeypatch.setenv("PGTZ", "Asia/Kolkata")  # pg_dump writes instants in its session's zone
    assert cli(15, "backup", "--to", str(backup)).exit_code == 0
    monkeypatch.setenv("PGTZ", "UTC")

    restored = cli(16, "restore", str(backup))

    assert restored.exit_code == 0, restored.output
    assert "replaced (--force)" not in restored.output


# -- the table list -----------------------------------------------------------------------------


def test_every_table_of_the_schema_is_classified_for_restore(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'schema.sqlite'}")
    try:
        store.migrate()
        tables = set(sa.inspect(store.engine).get_table_names())
    finally:
        store.dispose()

    unclassified = tables - set(TABLES)
    assert not unclassified, (
        f"tables {sorted(unclassified)} are not in backups/compare.py TABLES: say whether "
        "restore must count them (KEPT) or why not, or a restore loses them silently"
    )
    assert not set(TABLES) - tables, "TABLES names a table the schema no longer has"


def test_a_row_held_otherwise_is_named_as_changed_and_a_row_held_alike_is_not() -> None:
    columns = ("id", "reason", "released_at")
    backup = {
        "retention_holds": Rows(columns, {("1",): ("1", "court", None), ("2",): ("2", "x", None)})
    }
    live = {
        "retention_holds": Rows(
            columns, {("1",): ("1", "court", "2026-07-20"), ("2",): ("2", "x", None)}
        )
    }

    assert table_lines(live, backup) == ["1 retention hold changed since"]
    assert table_lines(backup, backup) == []


def test_rows_the_backup_has_lost_are_not_counted_as_held_by_the_live_database() -> None:
    columns = ("id", "username")
    backup = {"staff": Rows(columns, {("1",): ("1", "ann"), ("2",): ("2", "bo")})}
    live = {"staff": Rows(columns, {("1",): ("1", "ann")})}

    assert table_lines(live, backup) == []
