"""A small world for the staff pages' tests: the sample trust's registers in a SQLite file, two
schools run through the service up to a school day, a safeguarding concern, and staff accounts.
Three pupils of school-01 are absent with no reason on the last day, so that day's first-day
calls are open (earlier ones lapse a school day after they are due).

Built once per test run (about three seconds) and copied for each test that needs its own.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant, ServiceRole
from escalation_flow.core.definition import Role
from escalation_flow.service import Service
from escalation_flow.web.passwords import hash_password

ROOT = Path(__file__).resolve().parents[2]
TRUST_DIR = ROOT / "config" / "sample-trust"
PASSWORD = "correct-horse-battery"
FIRST_DAY = date(2025, 9, 3)
TODAY = date(2025, 10, 10)  # a Friday
SCHOOLS = ("school-01", "school-03")
SAFEGUARDING_PUPIL = "S03-P0007"
#: already at stage five: the absence moves nothing but the call
ABSENT_TODAY = ("S01-P0007", "S01-P0019", "S01-P0029")
#: the evening of TODAY, after the registers closed (UTC; London is UTC+1 in October)
NOW = datetime.combine(TODAY, time(18, 0), UTC)

STAFF: tuple[tuple[str, str, tuple[Grant, ...]], ...] = (
    ("lead", "Alex Morgan", (Grant(Role.ATTENDANCE_LEAD, "school-01"),)),
    ("head", "Chris Taylor", (Grant(Role.HEADTEACHER, "school-01"),)),
    ("office", "Sam Patel", (Grant(Role.ADMIN_STAFF, "school-01"),)),
    ("teacher", "Jo Evans", (Grant(Role.CLASS_TEACHER, "school-01", frozenset({"3"})),)),
    ("teacher3", "Kim Ali", (Grant(Role.CLASS_TEACHER, "school-03", frozenset({"3"})),)),
    ("lead3", "Robin Hughes", (Grant(Role.ATTENDANCE_LEAD, "school-03"),)),
    ("dsl", "Morgan Lee", (Grant(Role.DESIGNATED_SAFEGUARDING_LEAD, "school-03"),)),
    ("trust", "Jamie Clarke", (Grant(Role.ATTENDANCE_TEAM, None),)),
    ("auditor", "Pat Quinn", (Grant(ServiceRole.AUDITOR, None),)),
)


@dataclass(frozen=True)
class World:
    path: Path  # the SQLite file

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def trust(self) -> Trust:
        return sample_trust()

    def service(self, store: Store | None = None) -> Service:
        clock = SimulatedClock(NOW)
        return Service(store or Store(self.url), self.trust(), clock, worker="test")


@lru_cache(maxsize=1)
def sample_trust() -> Trust:
    """Read once: the trust keeps the calendars it has read, and they never change here."""
    return load_trust(TRUST_DIR / "trust.yaml")


@lru_cache(maxsize=1)
def template_world() -> Path:
    """The world's database, built once per process."""
    folder = Path(tempfile.mkdtemp(prefix="ef-web-world-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "world.sqlite"
    store = Store(f"sqlite:///{path}")
    try:
        _build(store)
    finally:
        store.dispose()
    return path


def new_world(folder: Path) -> World:
    """A private copy of the world in ``folder``."""
    target = folder / "world.sqlite"
    shutil.copyfile(template_world(), target)
    return World(target)


def _absent_today(store: Store, trust: Trust, clock: SimulatedClock) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ef-web-world-marks-"))
    path = folder / "absent.csv"
    path.write_text(
        "school,pupil,date,session,code,minutes_late,recorded_at\n"
        + "".join(f"school-01,{p},{TODAY},AM,N,,{TODAY}T10:30:00+01:00\n" for p in ABSENT_TODAY),
        encoding="utf-8",
    )
    marks = read_marks(path, trust.calendars(), aliases=trust.aliases)
    store.import_marks(marks, file=Path("absent.csv"), now=clock.now(), by="test")
    shutil.rmtree(folder, True)


def _build(store: Store) -> None:
    store.migrate()
    trust = sample_trust()
    store.upsert_schools(trust)
    clock = SimulatedClock(datetime.combine(FIRST_DAY, time(6, 0), UTC))
    rosters = read_roster(TRUST_DIR / "roster.csv", set(trust.schools), aliases=trust.aliases)
    store.import_roster(rosters, file=Path("roster.csv"), now=clock.now(), by="test")
    marks = read_marks(TRUST_DIR / "marks.csv", trust.calendars(), aliases=trust.aliases)
    store.import_marks(marks, file=Path("marks.csv"), now=clock.now(), by="test")
    _absent_today(store, trust, clock)
    # the sample's contacts (one amended in November: the world's "now" knows only September's)
    exported = datetime(2025, 12, 1, tzinfo=UTC)
    contacts = read_contacts(
        TRUST_DIR / "contacts.csv", set(trust.schools), now=exported, aliases=trust.aliases
    )
    store.import_contacts(contacts, now=exported, by="test")
    service = Service(store, trust, clock, worker="test")
    calendar = trust.calendar(SCHOOLS[0])
    day = FIRST_DAY
    while day <= TODAY:
        if calendar.is_school_day(day):
            clock.set(datetime.combine(day, time(17, 30), UTC))
            service.fire_due_timers()
            for school in SCHOOLS:
                service.run_day(school, day)
        day += timedelta(days=1)
    clock.set(NOW - timedelta(hours=1))
    service.record_event(
        "school-03",
        SAFEGUARDING_PUPIL,
        "safeguarding_concern",
        by="flo",
        note="Sibling mentioned a worry at home",
    )
    staff = StaffStore(store.engine)
    password_hash = hash_password(PASSWORD)
    for username, name, grants in STAFF:
        staff.add_staff(username, name, password_hash, grants, clock.now())
