"""A small trust for the daemon's tests: one school on the Leigh Academy Oaks plan, four pupils,
registers imported day by day and each school day evaluated, on a simulated clock.

- P1 is late (L) on 8, 10 and 12 September 2025: stage two opens on the 12th with the
  attendance reminder letter (a letter task that needs approval).
- P2 has an unexplained absence (N) on the mornings of 4 and 12 September: stage two on the 4th,
  and a first-day absence call (a universal task) each day; the 4th's lapses undone on the 5th
  (the flow's ``lapses_after``), the 12th's is open at the end.
- P3 and P4 attend every session.

``built_state`` makes a database in this state once per backend; ``clone`` copies it per test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service

ROOT = Path(__file__).resolve().parents[1]
LONDON = ZoneInfo("Europe/London")
SCHOOL = "oaks"
PUPILS = ("P1", "P2", "P3", "P4")
DAYS = tuple(date(2025, 9, d) for d in (3, 4, 5, 8, 9, 10, 11, 12))  # the first eight school days
LAST_DAY = DAYS[-1]
LATE = {("P1", date(2025, 9, 8)), ("P1", date(2025, 9, 10)), ("P1", date(2025, 9, 12))}
UNEXPLAINED = {("P2", date(2025, 9, 4)), ("P2", date(2025, 9, 12))}
HEADER = "school,pupil,date,session,code,minutes_late,recorded_at"


class RootedRunner(CliRunner):
    """A ``CliRunner`` whose commands run under ``root`` (its clock): the clock is handed to the
    composition root as click's context object, never patched in."""

    def __init__(self, root: Root) -> None:
        super().__init__()
        self.root = root

    def invoke(self, cli: Any, args: Any = None, **kwargs: Any) -> Result:
        kwargs.setdefault("obj", self.root)
        return super().invoke(cli, args, **kwargs)


#: the tables a school's evening writes
EVENING_TABLES = ("cases", "case_events", "tasks", "timers", "letters", "school_days")


def evening_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``EVENING_TABLES``, sorted: two evenings compared row for row."""
    with store.engine.connect() as conn:
        return {
            t: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
            for t in EVENING_TABLES
        }


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def write_trust(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    calendars = ROOT / "config" / "calendars"
    path = folder / "trust.yaml"
    path.write_text(
        f"""name: test-trust
timezone: Europe/London
schools:
  - id: {SCHOOL}
    name: Oaks Test Academy
    urn: "990001"
    flow: {ROOT / "flows" / "leigh-academy-oaks.yaml"}
    calendars: [{calendars / "england-2025-26.yaml"}, {calendars / "england-2026-27.yaml"}]
    address: ["1 Oak Lane", "Oakham OK1 1AA"]
    phone: "01234 567 890"
    email: office@oaks.example.sch.uk
    attendance_contact: {{name: Mrs A. Test, role: Attendance Lead}}
    signatory: {{name: Mr B. Test, role: Head Teacher}}
""",
        encoding="utf-8",
    )
    return path


def day_marks(folder: Path, day: date) -> Path:
    """That day's register for every pupil, each mark recorded at its registration time."""
    rows = [HEADER]
    for pupil in PUPILS:
        am = "L" if (pupil, day) in LATE else "N" if (pupil, day) in UNEXPLAINED else "/"
        am_at, pm_at = local(day, 9, 5).isoformat(), local(day, 13, 10).isoformat()
        rows.append(f"{SCHOOL},{pupil},{day},AM,{am},{'12' if am == 'L' else ''},{am_at}")
        rows.append(f"{SCHOOL},{pupil},{day},PM,\\,,{pm_at}")
    path = folder / f"marks-{day}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def import_day(store: Store, trust: Trust, folder: Path, day: date, at: datetime) -> None:
    path = day_marks(folder, day)
    result = read_marks(path, trust.calendars(), aliases=trust.aliases)
    store.import_marks(result, file=path, now=at, by="test")


def import_roster(store: Any, trust: Trust, folder: Path, at: datetime) -> None:
    """The pupils' names and year groups (a letter names the pupil: without them it is not
    prepared)."""
    path = folder / "roster.csv"
    rows = ["school,pupil,forename,surname,year_group,date_of_birth,admitted,left"]
    rows += [f"{SCHOOL},{p},Pat,Test{p},3,,," for p in PUPILS]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    store.import_roster(
        read_roster(path, set(trust.schools), aliases=trust.aliases), file=path, now=at, by="test"
    )


def run_days(service: Service, clock: SimulatedClock, folder: Path, days: tuple[date, ...]) -> None:
    """Each day: the register imported at 17:00, the day evaluated at 18:00 (London); the
    roster first, on the first day."""
    if days == DAYS:
        import_roster(service.store, service.trust, folder, local(days[0], 7))
    for day in days:
        clock.set(local(day, 17))
        import_day(service.store, service.trust, folder, day, clock.now())
        clock.set(local(day, 18))
        service.run_day(SCHOOL, day)


def evening_clock() -> SimulatedClock:
    """Friday 12 September 2025, 19:00 London: after the last day's evaluation."""
    return SimulatedClock(local(LAST_DAY, 19))


# -- databases -----------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    url = os.environ.get("ESCALATION_FLOW_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ESCALATION_FLOW_TEST_POSTGRES_URL is not set (PostgreSQL tests skipped)")
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {url} cannot be reached: {exc.orig}")
    return url


def _database_url(admin: str, name: str) -> str:
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _admin(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def built_state(
    backend: str, folder: Path, before_days: Callable[[Store, Path], None] | None = None
) -> Iterator[str]:
    """A database migrated, with the trust's eight school days imported and evaluated; yields
    its URL (the template the tests clone) and drops it afterwards. ``before_days`` (the store,
    the folder) runs before the first day: contacts imported then address the letters."""
    trust_path = write_trust(folder)
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'template.sqlite'}"
    else:
        admin = postgres_admin_url()
        name = f"ef_cases_tmpl_{uuid.uuid4().hex[:10]}"
        with _admin(admin) as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        url = _database_url(admin, name)
    store = Store(url)
    try:
        store.migrate()
        trust = load_trust(trust_path)
        store.upsert_schools(trust)
        if before_days is not None:
            before_days(store, folder)
        clock = SimulatedClock(local(DAYS[0], 8))
        run_days(Service(store, trust, clock, worker="builder"), clock, folder, DAYS)
    finally:
        store.dispose()
    yield url
    if backend != "sqlite":
        # FORCE: a register helper process may still be closing its connection as the module
        # ends (seen once in the reliability suite's tamper catalogue on PostgreSQL)
        with _admin(postgres_admin_url()) as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")


def clone(template: str, folder: Path) -> Iterator[str]:
    """The template's state for one test; yields a database URL.

    SQLite: a copy of the file. PostgreSQL: the template database itself, its tables emptied
    and refilled with the rows it had when built (a new database per test costs a second).
    """
    source = make_url(template)
    if source.get_backend_name() == "sqlite":
        target = folder / f"case-{uuid.uuid4().hex[:8]}.sqlite"
        shutil.copyfile(str(source.database), target)
        yield f"sqlite:///{target}"
        return
    _restore(template)
    yield template


_SAVED: dict[str, tuple[list[sa.Table], dict[str, list[dict[str, object]]]]] = {}


def _restore(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if url not in _SAVED:
                metadata = sa.MetaData()
                metadata.reflect(conn)
                tables = metadata.sorted_tables
                rows = {
                    t.name: [dict(r._mapping) for r in conn.execute(t.select())] for t in tables
                }
                _SAVED[url] = (tables, rows)
                return
            tables, saved = _SAVED[url]
            # DELETE, not TRUNCATE: on a handful of rows it is many times faster
            for table in reversed(tables):
                conn.execute(table.delete())
            for table in tables:
                if saved[table.name]:
                    conn.execute(table.insert(), saved[table.name])
                    if "id" in table.c:
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT max(id) FROM {table.name}))"
                        )
    finally:
        engine.dispose()


def later(clock: SimulatedClock, **delta: float) -> datetime:
    clock.advance(timedelta(**delta))
    return clock.now()
