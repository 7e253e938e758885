"""A small trust over seven school years (2019-20 to 2025-26) for the retention tests: one
school, a dozen pupils, generated calendars, a few register days a term, cases written straight
through the store's history writer (opened and closed on chosen days), a letter, a roster with
names and contacts.

- P01: case closed 2019-12-02 with a completed letter task and its letter: due on 2026-07-20
  (closed cases are kept six years in the test policy).
- P02: case closed 2020-09-01: kept until 2026-09-01.
- P03: case closed 2019-11-04, but under a legal hold (placed by the test): kept, marks too.
- P04: case open since 2019: never erased.
- P05 to P08: left in July 2020 (marks in 2019-20 only): their roster rows and contacts go.
- P09 to P12: on roll all seven years.

Each school year's marks are one import, and the first import also holds the first days of
2020-21, so a run must retire part of a seal and keep the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store, desk
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.core.access import Grant, ServiceRole
from escalation_flow.core.case import Case, fold
from escalation_flow.core.decisions import (
    CaseClosed,
    CaseOpened,
    Decision,
    Reason,
    StageEntered,
    TaskCompleted,
    TaskCreated,
)
from escalation_flow.stored import CaseChange, StoredCase
from tests.daemon_builders import ROOT, postgres_admin_url
from tests.staff_builders import NO_LOGIN

SCHOOL = "elms"
FIRST_YEAR, LAST_YEAR = 2019, 2025  # school years 2019-20 to 2025-26
PUPILS = tuple(f"P{n:02d}" for n in range(1, 13))
LEAVERS = ("P05", "P06", "P07", "P08")
TODAY = date(2026, 7, 20)
FLOW_VERSION = "f" * 64
LETTER_TEXT = "Dear Mrs Quillfeather, Zebedee has missed school"
LEAVER_NAME = "Marmaduke"
LEAVER_EMAIL = "marmaduke.senior@quillfeather.example"


def instant(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _calendar(folder: Path, year: int) -> Path:
    path = folder / f"calendar-{year}.yaml"
    path.write_text(
        f"""name: generated-{year}-{(year + 1) % 100:02d}
timezone: Europe/London
terms:
  - {{name: autumn, start: {year}-09-02, end: {year}-12-18}}
  - {{name: spring, start: {year + 1}-01-06, end: {year + 1}-03-27}}
  - {{name: summer, start: {year + 1}-04-14, end: {year + 1}-07-17}}
""",
        encoding="utf-8",
    )
    return path


def write_trust(folder: Path, retention: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    calendars = [_calendar(folder, y) for y in range(FIRST_YEAR, LAST_YEAR + 1)]
    policy = "" if retention is None else f"retention:\n{retention}"
    path = folder / "trust.yaml"
    path.write_text(
        f"""name: seven-years
timezone: Europe/London
{policy}
schools:
  - id: {SCHOOL}
    name: Elms Test Academy
    flow: {ROOT / "flows" / "leigh-academy-oaks.yaml"}
    calendars: [{", ".join(str(c) for c in calendars)}]
    address: ["1 Elm Lane", "Elmham EL1 1AA"]
    phone: "01234 567 890"
    email: office@elms.example.sch.uk
    attendance_contact: {{name: Mrs A. Test, role: Attendance Lead}}
    signatory: {{name: Mr B. Test, role: Head Teacher}}
""",
        encoding="utf-8",
    )
    return path


def register_days(trust: Trust, year: int) -> list[date]:
    """The first three school days of each term of a school year."""
    calendar = trust.calendar(SCHOOL)
    out: list[date] = []
    for start in (date(year, 9, 2), date(year + 1, 1, 6), date(year + 1, 4, 14)):
        day, found = start, 0
        while found < 3:
            if calendar.is_school_day(day):
                out.append(day)
                found += 1
            day += timedelta(days=1)
    return out


def _on_roll(pupil: str, year: int) -> bool:
    return pupil not in LEAVERS or year == FIRST_YEAR


def _marks_file(folder: Path, trust: Trust, years: list[int]) -> Path:
    rows = ["school,pupil,date,session,code,minutes_late,recorded_at"]
    for year in years:
        for day in register_days(trust, year):
            for pupil in PUPILS:
                if _on_roll(pupil, year):
                    code = "N" if pupil == "P01" and day.month == 9 else "/"
                    rows.append(f"{SCHOOL},{pupil},{day},AM,{code},,{instant(day, 9).isoformat()}")
                    rows.append(f"{SCHOOL},{pupil},{day},PM,\\,,{instant(day, 13).isoformat()}")
    path = folder / f"marks-{'-'.join(map(str, years))}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _import_marks(store: Store, trust: Trust, folder: Path) -> None:
    first = _marks_file(folder, trust, [FIRST_YEAR])
    spanning = [first.read_text(encoding="utf-8")]
    # the first import also carries the first register day of 2020-21: a seal run across years
    nxt = _marks_file(folder, trust, [FIRST_YEAR + 1]).read_text(encoding="utf-8").splitlines()
    spanning.append("\n".join(nxt[1 : 1 + 2 * len(PUPILS) - 2 * len(LEAVERS)]) + "\n")
    first.write_text("".join(spanning), encoding="utf-8")
    store.import_marks(
        read_marks(first, trust.calendars()),
        file=first,
        now=instant(date(2020, 9, 3), 18),
        by="test",
    )
    for year in range(FIRST_YEAR + 1, LAST_YEAR + 1):
        path = _marks_file(folder, trust, [year])
        head, *rows = path.read_text(encoding="utf-8").splitlines()
        if year == FIRST_YEAR + 1:  # its first day came with the first import
            rows = rows[2 * (len(PUPILS) - len(LEAVERS)) :]
        path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
        at = instant(date(year + 1, 7, 20), 18)
        store.import_marks(read_marks(path, trust.calendars()), file=path, now=at, by="test")


def _roster_and_contacts(store: Store, trust: Trust, folder: Path) -> None:
    roster = folder / "roster.csv"
    rows = ["school,pupil,forename,surname,year_group,date_of_birth,admitted,left"]
    for p in PUPILS:
        forename = LEAVER_NAME if p == "P06" else "Pat"
        rows.append(f"{SCHOOL},{p},{forename},Test{p},3,,,")
    roster.write_text("\n".join(rows) + "\n", encoding="utf-8")
    at = instant(date(2019, 9, 1))
    store.import_roster(read_roster(roster, set(trust.schools)), file=roster, now=at, by="test")
    contacts = folder / "contacts.csv"
    contacts.write_text(
        "school,pupil,contact,name,relationship,parental_responsibility,email\n"
        f"{SCHOOL},P06,C06,{LEAVER_NAME} Senior,father,yes,{LEAVER_EMAIL}\n"
        f"{SCHOOL},P09,C09,Alex Keeper,mother,yes,\n",
        encoding="utf-8",
    )
    store.import_contacts(read_contacts(contacts, set(trust.schools), now=at), now=at, by="test")


@dataclass(frozen=True)
class Story:
    opened: date
    closed: date | None
    letter: bool = False


CASES = {
    "P01": Story(date(2019, 10, 1), date(2019, 12, 2), letter=True),
    "P02": Story(date(2019, 10, 1), date(2020, 9, 1)),
    "P03": Story(date(2019, 10, 1), date(2019, 11, 4)),
    "P04": Story(date(2019, 10, 1), None),
}


def _decisions(pupil: str, story: Story) -> list[Decision]:
    on, at = story.opened, instant(story.opened, 18)
    reason = Reason(trigger="daily", quote="below 90%")
    out: list[Decision] = [
        CaseOpened(on=on, at=at, flow="leigh-academy-oaks", flow_version=FLOW_VERSION),
        StageEntered(on=on, at=at, stage=2, state="stage_2", from_stage=0, reason=reason),
        TaskCreated(on=on, at=at, task_key="reminder_letter#1", task="reminder_letter",
                    role="attendance_lead", kind="letter", due=on + timedelta(days=5),
                    approval=True, template="reminder"),
    ]  # fmt: skip
    done = on + timedelta(days=3)
    out.append(
        TaskCompleted(on=done, at=instant(done, 10), task_key="reminder_letter#1",
                      task="reminder_letter", outcome="sent", by="lead", note=f"spoke to mum of {pupil}")
    )  # fmt: skip
    if story.closed is not None:
        closing = Reason(trigger="daily", quote="improved")
        out.append(CaseClosed(on=story.closed, at=instant(story.closed, 18), reason=closing))
    return out


def _write_cases(store: Store) -> None:
    with store.begin() as tx:
        school_id = tx.school_id(SCHOOL)
        writer = tx.history_writer(
            school_id=school_id, school=SCHOOL, flow="leigh-academy-oaks",
            flow_version=FLOW_VERSION, now=instant(date(2020, 9, 2), 19), worker="builder",
        )  # fmt: skip
        changes = []
        for pupil, story in CASES.items():
            decisions = _decisions(pupil, story)
            after = fold(SCHOOL, pupil, decisions)
            changes.append(
                CaseChange(StoredCase(None, Case(SCHOOL, pupil)), decisions, after, "engine")
            )
        written = writer.write(changes)
        for task in written.tasks:
            if CASES[task.pupil].letter:
                desk.insert_letters(tx.conn, [{
                    "task_id": task.id, "case_id": task.case_id, "template": "reminder",
                    "status": "sent", "html": f"<p>{LETTER_TEXT}</p>", "pdf": None,
                    "figures": "{}", "prepared_at": instant(CASES[task.pupil].opened, 19),
                }])  # fmt: skip


def add_officer(store: Store, username: str = "dpo") -> None:
    grant = Grant(ServiceRole.DATA_PROTECTION_OFFICER, None)
    StaffStore(store.engine).add_staff(username, "Dee Pee", NO_LOGIN, [grant], instant(TODAY))


def build(url: str, folder: Path, retention: str | None) -> Trust:
    """The seven years in the database at ``url`` (migrated here); the trust as loaded."""
    trust = load_trust(write_trust(folder, retention))
    store = Store(url)
    try:
        store.migrate()
        store.upsert_schools(trust)
        _roster_and_contacts(store, trust, folder)
        _import_marks(store, trust, folder)
        _write_cases(store)
        add_officer(store)
    finally:
        store.dispose()
    return trust


@contextmanager
def built_database(backend: str, folder: Path, retention: str | None) -> Iterator[str]:
    """The seven years built (``build``) in a SQLite file in ``folder`` or in a new PostgreSQL
    database (skipped without one); yields its URL, and drops the PostgreSQL one afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'template.sqlite'}"
        build(url, folder, retention)
        yield url
        return
    admin = postgres_admin_url()
    name = f"ef_retention_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        build(url, folder, retention)
        yield url
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()
