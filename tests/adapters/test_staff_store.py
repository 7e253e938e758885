"""The staff tables, one contract for SQLite and PostgreSQL: people and their grants, sessions that
end, failed logins counted, acknowledgements recorded once, the audit log in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.cases import TASKS
from escalation_flow.adapters.store.schema import current_revision, upgrade
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.adapters.trust_files import SchoolConfig, Trust
from escalation_flow.core.access import Grant
from escalation_flow.core.definition import Role
from escalation_flow.errors import ConflictError, NotFoundError
from tests.adapters.test_store import _postgres_url

T0 = datetime(2025, 10, 10, 8, 0, tzinfo=UTC)
LEAD = (Grant(Role.ATTENDANCE_LEAD, "oaks"),)
TEACHER = (Grant(Role.CLASS_TEACHER, "pines", frozenset({"3", "R"})),)


def _trust() -> Trust:
    schools = {
        i: SchoolConfig(i, f"{i.title()} School", None, Path("flow.yaml"), (), None, {})
        for i in ("oaks", "pines")
    }
    return Trust("test-trust", "Europe/London", Path("trust.yaml"), schools)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'staff.sqlite'}")
        s.migrate()
        s.upsert_schools(_trust())
        yield s
        s.dispose()
        return
    url = _postgres_url()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    s = Store(make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        s.migrate()
        s.upsert_schools(_trust())
        yield s
    finally:
        s.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def staff(store: Store) -> StaffStore:
    return StaffStore(store.engine)


def test_staff_come_back_with_their_grants(staff: StaffStore) -> None:
    staff.add_staff("lead", "Lee Lead", "$argon2id$x", LEAD, T0)
    staff.add_staff("teach", "Tam Teach", "$argon2id$y", TEACHER, T0)
    staff.add_staff("trust", "Tru", "$argon2id$z", (Grant(Role.ATTENDANCE_TEAM, None),), T0)
    teacher = staff.by_username("teach")
    assert teacher is not None and teacher.grants == TEACHER
    assert staff.by_id(teacher.id) == teacher
    assert [s.username for s in staff.all_staff()] == ["lead", "teach", "trust"]
    trust = staff.by_username("trust")
    assert trust is not None and trust.principal().is_trust_wide


def test_a_username_is_taken_once_and_schools_must_exist(staff: StaffStore) -> None:
    staff.add_staff("lead", "Lee", "h", LEAD, T0)
    with pytest.raises(ConflictError, match="already"):
        staff.add_staff("lead", "Other", "h", LEAD, T0)
    with pytest.raises(NotFoundError, match="elms"):
        staff.add_staff("x", "X", "h", (Grant(Role.ADMIN_STAFF, "elms"),), T0)
    assert staff.by_username("x") is None


def test_a_session_lives_until_it_expires_or_ends(staff: StaffStore) -> None:
    sid = staff.add_staff("lead", "Lee", "h", LEAD, T0)
    staff.create_session(sid, "a" * 64, "csrf", T0, T0 + timedelta(hours=9), "127.0.0.1")
    live = staff.live_session("a" * 64, T0 + timedelta(hours=1))
    assert live is not None and live.staff_id == sid and live.csrf_token == "csrf"
    assert staff.live_session("a" * 64, T0 + timedelta(hours=9)) is None  # expired
    staff.end_session("a" * 64, T0 + timedelta(hours=2))
    assert staff.live_session("a" * 64, T0 + timedelta(hours=3)) is None
    assert staff.live_session("b" * 64, T0) is None


def test_wrong_passwords_are_counted_per_account_and_address_since_its_last_good_login(
    staff: StaffStore,
) -> None:
    for minutes, name, ip, ok in [
        (0, "lead", "10.0.0.1", False),
        (1, "lead", "10.0.0.2", False),
        (2, "head", "10.0.0.1", False),
        (3, "lead", "10.0.0.1", True),
        (30, "lead", "10.0.0.1", False),
        (31, "lead", "10.0.0.1", False),
    ]:
        staff.record_attempt(name, ip, ok, T0 + timedelta(minutes=minutes))
    history = staff.login_history("lead", "10.0.0.1", since=T0, address_since=T0)
    assert (history.pair_failures, history.last_pair_failure) == (2, T0 + timedelta(minutes=31))
    assert (history.address_failures, history.oldest_address_failure) == (4, T0)
    later = staff.login_history(
        "lead", "10.0.0.1", since=T0, address_since=T0 + timedelta(minutes=15)
    )
    assert later.address_failures == 2
    assert staff.forget_failures("lead") == 4  # from every address
    assert staff.login_history("lead", "10.0.0.1", since=T0, address_since=T0).pair_failures == 0


def test_tasks_are_acknowledged_once(store: Store, staff: StaffStore) -> None:
    sid = staff.add_staff("lead", "Lee Lead", "h", LEAD, T0)
    with store.engine.begin() as conn:
        school = conn.exec_driver_sql("SELECT id FROM schools WHERE key = 'oaks'").scalar()
        row = {
            "school_id": school,
            "pupil": "P1",
            "task": "call",
            "role": "attendance_lead",
            "kind": "call",
            "approval": False,
            "status": "open",
            "due": T0.date(),
            "created_on": T0.date(),
            "created_at": T0,
        }
        conn.execute(TASKS.insert(), [{**row, "id": i, "key": f"call@{i}"} for i in (1, 2)])
    assert staff.acknowledge([1, 2, 2], sid, "on it", T0) == [1, 2]
    assert staff.acknowledge([2], sid, None, T0 + timedelta(minutes=5)) == []
    acks = staff.acks([1, 2, 3])
    assert sorted(acks) == [1, 2]
    assert acks[2].by == "Lee Lead" and acks[2].at == T0 and acks[2].note == "on it"


def test_the_audit_log_reads_back_newest_first(staff: StaffStore) -> None:
    staff.audit("lead", "login", T0, ip="10.0.0.1")
    staff.audit("dsl", "view_safeguarding", T0 + timedelta(seconds=1), school="oaks", pupil="P9")
    entries = staff.audit_entries()
    assert [(e.actor, e.action) for e in entries] == [
        ("dsl", "view_safeguarding"),
        ("lead", "login"),
    ]
    assert staff.audit_entries(action="view_safeguarding")[0].pupil == "P9"
    assert staff.audit_entries(school="pines") == []


def test_the_staff_migration_goes_down_and_up_again(store: Store) -> None:
    upgrade_down(store)
    assert current_revision(store.engine) == "0003"
    assert "staff" not in sa.inspect(store.engine).get_table_names()
    upgrade(store.engine)
    assert {
        "staff",
        "staff_roles",
        "web_sessions",
        "login_attempts",
        "task_acks",
        "audit_log",
    } <= set(sa.inspect(store.engine).get_table_names())


def upgrade_down(store: Store) -> None:
    from alembic import command

    from escalation_flow.adapters.store.schema import alembic_config

    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")


def test_audit_entries_written_at_once_all_chain_and_verify(store: Store, staff: StaffStore) -> None:
    """Every audit-log entry is a later record on its school's (or the trust's) chain: entries
    written at the same moment by several threads (logins behind one proxy) all land, each once,
    and the chain links (chain format 2; on PostgreSQL the loser of a race tries again)."""
    from concurrent.futures import ThreadPoolExecutor

    from escalation_flow.audit.store_check import verify_store

    def write(n: int) -> None:
        staff.audit(f"user{n}", "login_failed", T0, ip="10.0.0.1")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(30)))
    with store.engine.connect() as conn:
        seqs = conn.execute(
            sa.text("SELECT seq FROM chain_records WHERE chain = 'trust' ORDER BY seq")
        ).scalars().all()
    assert list(seqs) == list(range(1, 31))
    report = verify_store(store.engine)
    assert report.ok, report.breaches
    assert report.later_records == 30
