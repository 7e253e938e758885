"""The store: schools, pupils, imports and marks in SQLite or PostgreSQL.

Every import is one transaction: a file either lands whole, with its ``imports`` row, or not
at all. Times are handed in (from the caller's clock), never taken from a database default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from escalation_flow.adapters.register_files import MarksRead
from escalation_flow.adapters.store import bulk, schema
from escalation_flow.adapters.store.engine import create_store_engine, sqlite_path
from escalation_flow.adapters.store.kept_registers import KeptMarks, RegisterMemory, kept_of_import
from escalation_flow.adapters.store.marks_io import (
    load_sql,
    seal_columns_of,
    to_mark_table,
    to_stored,
)
from escalation_flow.adapters.store.models import Import, Mark, Pupil, School, table_of
from escalation_flow.adapters.store.seal_columns import Sealed, sealed
from escalation_flow.adapters.trust_files import Trust
from escalation_flow.clock import Clock
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.marks import MarkTable, PupilRecord, Roster, to_micros
from escalation_flow.errors import NotFoundError

if TYPE_CHECKING:
    # Imported where used: the cases' side (the case writer, the engine) and the contacts are
    # 0.4 CPU-s of imports that ``import marks``, a process of its own, never needs.
    from escalation_flow.adapters.contact_files import ContactsRead
    from escalation_flow.adapters.store.kept_cases import CaseMemory
    from escalation_flow.adapters.store.marks_reader import RegisterReader
    from escalation_flow.adapters.store.transaction import SqlTransaction
    from escalation_flow.core.contacts import ContactVersion
    from escalation_flow.core.penalty_notices import NoticeVersion
    from escalation_flow.core.school_figures import SchoolFigures
    from escalation_flow.ports import FiguresKey, NoticeMaker, SchoolPage

#: Marks of a trust load this many schools at a time (the machines have two cores or more).
_LOAD_THREADS = 2


@dataclass(frozen=True)
class ImportSummary:
    """What one import did."""

    import_id: int
    kind: str
    file: Path
    sha256: str
    rows_read: int
    accepted: int  # rows that passed the checks (identical repeats within the file excluded)
    imported: int  # rows new to the store
    rejected: int
    started_at: dt.datetime
    finished_at: dt.datetime

    @property
    def already_known(self) -> int:
        return self.accepted - self.imported

    def line(self) -> str:
        """One line for a person: what was read and what became of it."""
        if self.kind == "contacts":
            return (
                f"{self.file}: {self.rows_read} rows read, {self.imported} new version(s), "
                f"{self.already_known} already known, {self.rejected} rejected"
            )
        if self.kind == "roster":
            return (
                f"{self.file}: {self.rows_read} pupils read, {self.imported} new, "
                f"{self.already_known} already known (updated)"
            )
        return (
            f"{self.file}: {self.rows_read} rows read, {self.imported} imported, "
            f"{self.already_known} already known, {self.rejected} rejected"
        )


class Store:
    """The database, from a SQLAlchemy URL (``sqlite:///var/x.sqlite``, ``postgresql+psycopg://``)."""

    def __init__(self, url: str | URL) -> None:
        self.engine: Engine = create_store_engine(url)
        #: schools' marks kept between reads (``keep_registers``: a long-running daemon)
        self.registers_kept: RegisterMemory | None = None
        #: and their open cases (``kept_cases``)
        self.cases_kept: CaseMemory | None = None
        #: the retention runs recorded when the registers began to be kept (``save_registers``)
        self._retention_runs: int | None = None

    def keep_registers(self, snapshots: Path | None = None) -> None:
        """Keep schools' marks in memory between register reads, reading only new imports'
        rows (``kept_registers``), and their open cases, decoding only those whose row moved
        on (``kept_cases``): for one long-lived process, never for the pages. ``snapshots``:
        a folder the kept registers are saved to (``save_registers``) and looked for in at a
        school's first read, used only as the database proves them (``register_snapshots``)."""
        if self.registers_kept is None:
            files = None
            if snapshots is not None:
                from escalation_flow.adapters.store.register_snapshots import (
                    RegisterSnapshots,
                    retention_runs,
                )

                files = RegisterSnapshots(snapshots, self.engine.url)
                try:  # a retention run while they are kept: no files at the stop
                    with self.engine.connect() as conn:
                        self._retention_runs = retention_runs(conn)
                except SQLAlchemyError:  # no schema yet: none written at the stop
                    self._retention_runs = None
            self.registers_kept = RegisterMemory(files)
        if self.cases_kept is None:
            from escalation_flow.adapters.store.kept_cases import CaseMemory

            self.cases_kept = CaseMemory()

    def dispose(self) -> None:
        self.engine.dispose()

    def save_registers(self) -> int:
        """Write each kept school's rows to its file (a daemon stopping); the schools written.
        A school one of whose imports is gone from the database is not written."""
        memory = self.registers_kept
        if memory is None or memory.snapshots is None:
            return 0
        from escalation_flow.adapters.store.register_snapshots import fingerprints, retention_runs

        with self.engine.connect() as conn:
            prints = fingerprints(conn)
            erased = self._retention_runs is None or retention_runs(conn) != self._retention_runs
        saved = 0
        if not erased:
            saved = sum(memory.snapshots.write(kept, prints) for kept in memory.kept())
            # asked again after: a run committed while they were written deleted the folder
            # (its own deletion follows its commit) before some were; none of them is left
            with self.engine.connect() as conn:
                erased = retention_runs(conn) != self._retention_runs
        if erased:  # marks kept since the start may be erased ones: none written, none left
            shutil.rmtree(memory.snapshots.folder, ignore_errors=True)
            return 0
        return saved

    # -- units of work on cases (``ports.CaseStore``) -----------------------------------------

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        """A transaction: committed on leaving the block, rolled back on an error."""
        from escalation_flow.adapters.store.transaction import SqlTransaction

        with self.engine.begin() as conn:
            yield SqlTransaction(conn, self.cases_kept)

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        """A connection for reading (what is written through it is rolled back)."""
        from escalation_flow.adapters.store.transaction import SqlTransaction

        with self.engine.connect() as conn:
            yield SqlTransaction(conn, self.cases_kept)

    def register_reader(self) -> RegisterReader:
        """Schools' registers as known at an instant (``ports.RegisterSource``)."""
        from escalation_flow.adapters.store.marks_reader import RegisterReader

        return RegisterReader(self)

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        schema.upgrade(self.engine)

    def require_current(self) -> None:
        """Raise ``StoreError`` unless the schema is the newest (``escalation-flow db upgrade``)."""
        schema.require_current(self.engine)

    # -- schools and pupils -------------------------------------------------------------------

    def upsert_schools(self, trust: Trust) -> None:
        """Add the trust's schools, and bring names and URNs up to date."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(School.key, School.name, School.urn))
            existing = {key: {"name": name, "urn": urn} for key, name, urn in rows}
            for school in trust.schools.values():
                values = {"name": school.name, "urn": school.urn}
                if school.id in existing:
                    if existing[school.id] != values:  # a statement a school is a daemon's start
                        conn.execute(update(School).where(School.key == school.id).values(values))
                else:
                    conn.execute(table_of(School).insert().values(key=school.id, **values))

    def school_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(School.key)).scalars())

    def first_marked_day(self, school: str) -> dt.date | None:
        """The earliest day the school has any register mark for (None: no marks yet)."""
        marks = table_of(Mark)
        with self.engine.connect() as conn:
            sid = conn.execute(select(School.id).where(School.key == school)).scalar()
            if sid is None:
                return None
            found = conn.execute(
                select(func.min(marks.c.date)).where(marks.c.school_id == sid)
            ).scalar()
        return found if isinstance(found, dt.date) else None

    def load_roster(self, school: str) -> Roster:
        with self.engine.connect() as conn:
            school_id = _school_ids(conn, [school])[school]
            return roster_and_names(conn, school_id, school)[0]

    # -- imports ------------------------------------------------------------------------------

    def import_marks(
        self,
        result: MarksRead,
        *,
        file: Path,
        now: dt.datetime,
        by: str,
        clock: Clock | None = None,
        seal: bool = False,
    ) -> ImportSummary:
        """Add the marks of one file; rows already stored are skipped. Marks whose file gave no
        ``recorded_at`` are recorded at ``now`` unless they repeat the session's current mark.
        ``seal``: seal the new rows in the same transaction (``audit verify`` then names any
        later edit); when every row given is new they are sealed from the columns in memory
        (well under a µs a row), else read back first (``audit_store.seal_import``)."""
        imported = 0
        with self.engine.begin() as conn:
            # Recorded so that ``audit verify`` can tell a back-fill from a seal deleted.
            how = "sealed" if seal else "no_seal"
            import_id = _new_import(conn, "marks", file, result.sha256, now, by, seal=how)
            schools = _school_ids(conn, list(result.tables))
            wrote: list[int] = []
            in_memory: dict[int, Sealed] = {}
            kept: dict[str, KeptMarks] = {}  # for the registers kept: every row new
            with bulk.key_built_after(conn, result.tables.values()) as fresh:
                for school, table in result.tables.items():
                    ids = _pupil_ids(conn, schools[school], table.pupils)
                    stored = to_stored(table, result.calendars[school], schools[school], ids)
                    new = bulk.insert_marks(conn, stored, now, import_id, fresh=fresh)
                    imported += new
                    if new:
                        wrote.append(schools[school])
                    memory, calendar = self.registers_kept, result.calendars[school]
                    if memory is not None and new == len(stored) and memory.keeps(school, calendar):
                        kept[school] = kept_of_import(
                            table, calendar, ids, to_micros(now), import_id
                        )
                    if seal and new == len(stored):  # every row new: seal them from memory
                        in_memory[schools[school]] = sealed(seal_columns_of(table, calendar, now))
            if seal and wrote:
                from escalation_flow.adapters.store.audit_store import seal_import

                seal_import(conn, import_id, wrote, now, in_memory)
            summary = ImportSummary(
                import_id=import_id,
                kind="marks",
                file=file,
                sha256=result.sha256,
                rows_read=result.rows_read,
                accepted=result.accepted,
                imported=imported,
                rejected=len(result.rejected),
                started_at=now,
                finished_at=clock.now() if clock else now,
            )
            _finish_import(conn, summary)
        if self.registers_kept is not None:  # committed: the daemon's next read asks for none
            self.registers_kept.add_import(import_id, kept, set(result.tables))
        return summary

    def import_roster(
        self,
        rosters: Mapping[str, Roster],
        *,
        file: Path,
        now: dt.datetime,
        by: str,
        clock: Clock | None = None,
    ) -> ImportSummary:
        """Add or update the pupils of a roster file (a later roster wins, field by field)."""
        sha = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else ""
        records = [r for roster in rosters.values() for r in roster.pupils.values()]
        with self.engine.begin() as conn:
            import_id = _new_import(conn, "roster", file, sha, now, by)
            schools = _school_ids(conn, list(rosters))
            before = _count_pupils(conn, schools.values())
            for record in records:
                _upsert_pupil(conn, schools[record.school], record)
            summary = ImportSummary(
                import_id=import_id,
                kind="roster",
                file=file,
                sha256=sha,
                rows_read=len(records),
                accepted=len(records),
                imported=_count_pupils(conn, schools.values()) - before,
                rejected=0,
                started_at=now,
                finished_at=clock.now() if clock else now,
            )
            _finish_import(conn, summary)
        return summary

    def import_contacts(
        self, result: ContactsRead, *, now: dt.datetime, by: str, clock: Clock | None = None
    ) -> ImportSummary:
        """Add the new contact versions of one file in one transaction (``store.contacts``)."""
        from escalation_flow.adapters.store.contacts import insert_contacts

        with self.engine.begin() as conn:
            import_id = _new_import(conn, "contacts", result.path, result.sha256, now, by)
            schools = _school_ids(conn, sorted({r.version.school for r in result.rows}))
            imported = insert_contacts(conn, result, schools, import_id, now)
            summary = ImportSummary(
                import_id=import_id,
                kind="contacts",
                file=result.path,
                sha256=result.sha256,
                rows_read=result.rows_read,
                accepted=len(result.rows),
                imported=imported,
                rejected=len(result.rejected),
                started_at=now,
                finished_at=clock.now() if clock else now,
            )
            _finish_import(conn, summary)
        return summary

    def contact_versions(self) -> list[ContactVersion]:
        """Every stored version of every contact of the trust (``ports.ContactBook``)."""
        from escalation_flow.adapters.store.contacts import read_versions

        with self.engine.connect() as conn:
            return read_versions(conn)

    def penalty_notice_versions(self, school: str | None = None) -> list[NoticeVersion]:
        """Every stored version of every notice (of ``school``), ``ports.PenaltyNoticeBook``."""
        from escalation_flow.adapters.store.penalty_notices import read_versions

        with self.engine.connect() as conn:
            ids = None if school is None else [_school_ids(conn, [school])[school]]
            return read_versions(conn, ids)

    def write_penalty_notice(
        self, school: str, make: NoticeMaker, now: dt.datetime
    ) -> NoticeVersion:
        """``ports.PenaltyNoticeBook.write_penalty_notice``: the register is read after the
        school's chain is locked, so the rules see every notice written before this one."""
        from escalation_flow.adapters.store import penalty_notices as register
        from escalation_flow.adapters.store.records import lock_chains
        from escalation_flow.core.chain import school_chain

        with self.engine.begin() as conn:
            school_id = _school_ids(conn, [school])[school]
            lock_chains(conn, [school_chain(school)])
            # Numbers run across the trust's schools: a writer at another school, holding only
            # its own chain, would read the same highest number. Taken after the school's chain,
            # in that order everywhere, so two writers never wait on each other in a circle.
            lock_chains(conn, [register.NUMBERS_LOCK])
            version = make(
                register.read_versions(conn, [school_id]), register.next_notice_number(conn)
            )
            register.insert_version(conn, version, school_id, now)
        return version

    def import_stamp(self) -> int:
        """``ports.SchoolFiguresBook.import_stamp``: the newest import's id (0: none)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(Import.id))).scalar() or 0)

    def school_figures(self, wanted: Mapping[str, FiguresKey]) -> dict[str, SchoolFigures]:
        """``ports.SchoolFiguresBook.school_figures``."""
        from escalation_flow.adapters.store.school_figures import read_figures

        with self.engine.connect() as conn:
            return read_figures(conn, wanted)

    def keep_school_figures(
        self, school: str, key: FiguresKey, figures: SchoolFigures, now: dt.datetime
    ) -> None:
        """``ports.SchoolFiguresBook.keep_school_figures``."""
        from escalation_flow.adapters.store.school_figures import keep_figures

        try:
            with self.engine.begin() as conn:
                keep_figures(conn, _school_ids(conn, [school])[school], key, figures, now)
        except IntegrityError:
            # another process kept the same day's figures between our delete and insert: its
            # row was counted from the same registers, or is under a key the reader will refuse
            pass

    def school_page(self, school: str, key: FiguresKey) -> SchoolPage | None:
        """``ports.SchoolPagesBook.school_page``."""
        from escalation_flow.adapters.store.school_figures import read_page

        with self.engine.connect() as conn:
            try:
                found = _school_ids(conn, [school])[school]
            except NotFoundError:
                return None
            return read_page(conn, found, key)

    def keep_school_page(
        self, school: str, key: FiguresKey, page: SchoolPage, now: dt.datetime
    ) -> None:
        """``ports.SchoolPagesBook.keep_school_page`` (a race as ``keep_school_figures``'s)."""
        from escalation_flow.adapters.store.school_figures import keep_page

        try:
            with self.engine.begin() as conn:
                keep_page(conn, _school_ids(conn, [school])[school], key, page, now)
        except IntegrityError:
            pass

    # -- reading ------------------------------------------------------------------------------

    def load_trust_marks(self, calendars: Mapping[str, SchoolCalendar]) -> dict[str, MarkTable]:
        """``load_marks`` for many schools at once, two at a time: the reads release the GIL."""
        if sqlite_path(self.engine.url) is None and self.engine.dialect.name == "sqlite":
            # One shared in-memory connection: one reader at a time.
            return {school: self.load_marks(school, c) for school, c in calendars.items()}
        with ThreadPoolExecutor(max_workers=_LOAD_THREADS) as pool:
            tables = pool.map(lambda school: self.load_marks(school, calendars[school]), calendars)
            return dict(zip(calendars, tables, strict=True))

    def load_marks(self, school: str, calendar: SchoolCalendar) -> MarkTable:
        """Every stored version of every mark of ``school`` on the days ``calendar`` covers."""
        with self.engine.connect() as conn:
            school_id = _school_ids(conn, [school])[school]
            query = select(Pupil.id, Pupil.mis_id).where(Pupil.school_id == school_id)
            names = dict(conn.execute(query).all())
            sql = load_sql(conn.dialect.name, school_id, calendar.first_day, calendar.last_day)
            rows = bulk.fetch(conn, sql)
        return to_mark_table(school, calendar, rows, names)


def _school_ids(conn: Connection, keys: list[str]) -> dict[str, int]:
    found = dict(conn.execute(select(School.key, School.id).where(School.key.in_(keys))).all())
    missing = sorted(set(keys) - set(found))
    if missing:
        raise NotFoundError(
            f"school(s) {', '.join(missing)} not in the store; add them from the trust file first"
        )
    return found


def roster_and_names(
    conn: Connection, school_id: int, school: str
) -> tuple[Roster, dict[int, str]]:
    """The school's roster and its pupils' MIS ids by database id, from one read of
    ``pupils`` (an evening wants both: the register names pupils by database id)."""
    table = table_of(Pupil)
    rows = conn.execute(select(table).where(table.c.school_id == school_id)).mappings().all()
    roster = Roster(school)
    names: dict[int, str] = {}
    for p in rows:
        names[p["id"]] = p["mis_id"]
        roster.pupils[p["mis_id"]] = PupilRecord(
            school=school,
            pupil=p["mis_id"],
            forename=p["forename"] or "",
            surname=p["surname"] or "",
            year_group=p["year_group"] or "",
            date_of_birth=p["date_of_birth"],
            admitted=p["admitted_on"],
            left=p["left_on"],
        )
    return roster, names


def _pupil_ids(conn: Connection, school_id: int, pupils: tuple[str, ...]) -> np.ndarray:
    """Database ids for ``pupils`` (MIS ids) of one school, adding the pupils not yet known."""
    query = select(Pupil.mis_id, Pupil.id).where(Pupil.school_id == school_id)
    known = dict(conn.execute(query).all())
    new = [p for p in pupils if p not in known]
    if new:
        conn.execute(table_of(Pupil).insert(), [{"school_id": school_id, "mis_id": p} for p in new])
        known = dict(conn.execute(query).all())
    return np.array([known[p] for p in pupils], dtype=np.int64)


def _upsert_pupil(conn: Connection, school_id: int, record: PupilRecord) -> None:
    values = {
        "forename": record.forename or None,
        "surname": record.surname or None,
        "year_group": record.year_group or None,
        "date_of_birth": record.date_of_birth,
        "admitted_on": record.admitted,
        "left_on": record.left,
    }
    insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = insert(table_of(Pupil)).values(school_id=school_id, mis_id=record.pupil, **values)
    conn.execute(
        statement.on_conflict_do_update(index_elements=["school_id", "mis_id"], set_=values)
    )


def _count_pupils(conn: Connection, school_ids: Iterable[int]) -> int:
    query = select(func.count()).select_from(Pupil).where(Pupil.school_id.in_(list(school_ids)))
    return int(conn.execute(query).scalar_one())


def _new_import(
    conn: Connection,
    kind: str,
    file: Path,
    sha256: str,
    now: dt.datetime,
    by: str,
    seal: str | None = None,
) -> int:
    statement = (
        table_of(Import)
        .insert()
        .values(
            kind=kind,
            file_name=str(file),
            sha256=sha256,
            rows=0,
            accepted=0,
            imported=0,
            rejected=0,
            started_at=now,
            finished_at=now,
            imported_by=by,
            seal=seal,
        )
    )
    primary_key = conn.execute(statement).inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def _finish_import(conn: Connection, summary: ImportSummary) -> None:
    conn.execute(
        update(Import)
        .where(Import.id == summary.import_id)
        .values(
            rows=summary.rows_read,
            accepted=summary.accepted,
            imported=summary.imported,
            rejected=summary.rejected,
            finished_at=summary.finished_at,
        )
    )
