"""A database holding a burst of due review timers, for the daemon's reliability tests and its
benchmark: one school on the Leigh Academy Oaks plan, ``pupils`` pupils on the roster, each with
an open case in a state whose review timer is armed, the timers due at a few instants in the
past (so that a daemon on the system clock finds them all overdue).

The cases are written through the store's history writer, as the service writes them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from escalation_flow.adapters.register_files import read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.cases import school_id
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.case import Case, fold
from escalation_flow.core.decisions import CaseOpened, Reason, StageEntered, TimerArmed
from escalation_flow.service import Service
from escalation_flow.stored import ENGINE, CaseChange, StoredCase
from tests.daemon_builders import SCHOOL, write_trust

LONDON = ZoneInfo("Europe/London")
OPENED = date(2025, 9, 22)
#: the school days the burst's timers come due on (08:00 London), a third of the pupils each
DUE = (date(2025, 10, 13), date(2025, 10, 14), date(2025, 10, 15))


@dataclass(frozen=True)
class Burst:
    url: str
    trust: Path
    timers: int


def pupil_ids(n: int) -> list[str]:
    return [f"B{i:05d}" for i in range(n)]


def write_roster(folder: Path, pupils: Sequence[str]) -> Path:
    path = folder / "roster.csv"
    rows = ["school,pupil,forename,surname,year_group,date_of_birth,admitted,left"]
    rows += [f"{SCHOOL},{p},Pat,Burst{i},Year 7,,," for i, p in enumerate(pupils)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def build_burst(url: str, folder: Path, pupils: int, fire_at: datetime | None = None) -> Burst:
    """Migrate the database at ``url`` and seed it with ``pupils`` cases, one due timer each
    (all firing at ``fire_at`` when given, else at 08:00 on the days of ``DUE``)."""
    trust_path = write_trust(folder)
    trust = load_trust(trust_path)
    names = pupil_ids(pupils)
    store = Store(url)
    try:
        store.migrate()
        store.upsert_schools(trust)
        roster = write_roster(folder, names)
        at = datetime.combine(OPENED, time(16, 30), tzinfo=LONDON).astimezone(UTC)
        store.import_roster(
            read_roster(roster, set(trust.schools), aliases=trust.aliases),
            file=roster,
            now=at,
            by="builder",
        )
        service = Service(store, trust, SimulatedClock(at), worker="builder")
        setup = service.setup(SCHOOL)
        state, timer = next(
            (name, r.state.timers[0]) for name, r in setup.flow.states.items() if r.state.timers
        )
        stage = setup.flow.state(state).stage.number
        changes = []
        for i, pupil in enumerate(names):
            due = DUE[i % len(DUE)]
            decisions = [
                CaseOpened(on=OPENED, at=at, flow=setup.flow.id, flow_version=setup.flow.version),
                StageEntered(
                    on=OPENED,
                    at=at,
                    stage=stage,
                    state=state,
                    from_stage=0,
                    reason=Reason(trigger="override"),
                ),
                TimerArmed(
                    on=OPENED,
                    at=at,
                    timer_key=f"{timer.id}#1",
                    timer=timer.id,
                    due=due,
                    fire_at=fire_at
                    or datetime.combine(due, time(8), tzinfo=LONDON).astimezone(UTC),
                    rule=str(timer.after),
                    calendar_version=setup.calendar.version,
                ),
            ]
            before = StoredCase(None, Case(SCHOOL, pupil))
            changes.append(CaseChange(before, decisions, fold(SCHOOL, pupil, decisions), ENGINE))
        with store.engine.begin() as conn:
            HistoryWriter(
                conn,
                school_id=school_id(conn, SCHOOL),
                school=SCHOOL,
                flow=setup.flow.id,
                flow_version=setup.flow.version,
                now=at,
                worker="builder",
            ).write(changes)
    finally:
        store.dispose()
    return Burst(url, trust_path, pupils)


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_admin_url() -> str | None:
    """The test server's URL when it is set and answers, else None."""
    url = os.environ.get("ESCALATION_FLOW_TEST_POSTGRES_URL")
    if not url:
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return url
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


@contextmanager
def fresh_postgres_database(admin: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards; yields its URL."""
    name = f"ef_daemon_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


def later(instant: datetime, **delta: float) -> datetime:
    return instant + timedelta(**delta)
