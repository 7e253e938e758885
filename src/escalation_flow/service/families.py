"""Pupils' contacts and their siblings across the trust, as the service knows them now.

The contact book is the store's (``ports.ContactBook``: every version of every contact); the
families are ``core.contacts.families`` over the book as known at an instant. A sibling is
described with what the service knows of them now: school, year group (the roster), attendance
year to date (the register as known now, as the daemon reads it) and open case. Who may see how
much of that is ``core.siblings.as_seen_by``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime

from escalation_flow.core.access import Principal
from escalation_flow.core.contacts import (
    ContactVersion,
    Families,
    PupilKey,
    as_known_at,
    families,
)
from escalation_flow.core.siblings import Sibling, as_seen_by, as_seen_where, reader_of
from escalation_flow.errors import CalendarError
from escalation_flow.ports import OPEN, ContactBook
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.register import RegisterAsKnown

#: (school, pupil) to the pupil's attendance % year to date, or None when not known.
Attendance = Callable[[str, str], float | None]
#: Between two siblings in a report's one-line siblings cell.
SIBLING_SEPARATOR = " | "


class FamilyReads:
    """Contacts, families and siblings over one contact book."""

    def __init__(self, ctx: ServiceContext, book: ContactBook | None) -> None:
        self.ctx = ctx
        self.book = book

    def versions(self) -> list[ContactVersion]:
        return [] if self.book is None else self.book.contact_versions()

    def contacts(
        self, school: str, pupil: str, *, known_at: datetime | None = None
    ) -> list[ContactVersion]:
        """The pupil's contacts as known at ``known_at`` (default: now), in priority order."""
        key = self.ctx.setup(school).school
        mine = [v for v in self.versions() if v.school == key and v.pupil == pupil]
        return as_known_at(mine, known_at or self.ctx.now())

    def families(self, known_at: datetime | None = None) -> Families:
        return families(as_known_at(self.versions(), known_at or self.ctx.now()))

    def siblings(
        self,
        school: str,
        pupil: str,
        *,
        viewer: Principal | None = None,
        attendance: Attendance | None = None,
    ) -> list[Sibling]:
        """The pupil's siblings with what the service knows of them now, as ``viewer`` may see
        them (None: in full). ``attendance``: how to read a sibling's attendance (the pages
        hand in their cached registers); default: each school's register as known now."""
        key = self.ctx.setup(school).school
        book = self.families()
        found = [self._who(book, (key, pupil), other) for other in book.siblings(key, pupil)]
        # only what the viewer may see is read further (attendance, cases)
        seen = as_seen_by(viewer, key, found)
        read = attendance or _Registers(self.ctx).attendance
        return [s if s.hidden else self._known_now(s, read) for s in seen]

    def sibling_lines(
        self,
        school: str,
        pupils: Sequence[str],
        visible_schools: Collection[str] | None,
        viewer: Principal | None = None,
    ) -> dict[str, str]:
        """``report_ports.SiblingDirectory`` for the termly targeting report: per pupil with
        siblings, each sibling's ``Sibling.line`` joined in one line. A sibling at a school
        outside ``visible_schools`` (None: every school) is only "a sibling at another school
        in the trust"; with a ``viewer``, what they may not read is hidden as on the case page.
        The families and each school's register are read once for the whole list."""
        key = self.ctx.setup(school).school
        book = self.families()
        read = _Registers(self.ctx).attendance
        may_read = reader_of(visible_schools, viewer)
        out: dict[str, str] = {}
        for pupil in pupils:
            found = [self._who(book, (key, pupil), o) for o in book.siblings(key, pupil)]
            seen = as_seen_where(key, found, may_read)
            known = [s if s.hidden else self._known_now(s, read) for s in seen]
            if known:
                out[pupil] = SIBLING_SEPARATOR.join(s.line() for s in known)
        return out

    def _who(self, book: Families, me: PupilKey, other: PupilKey) -> Sibling:
        school, pupil = other
        record = self.ctx.store.load_roster(school).pupils.get(pupil)
        name = " ".join(p for p in (record.forename, record.surname) if p) if record else ""
        year = record.year_group if record else ""
        born = record.date_of_birth if record else None
        return Sibling(
            school, pupil, name, year, via=book.shared_contacts(me, other), date_of_birth=born
        )

    def _known_now(self, sibling: Sibling, attendance: Attendance) -> Sibling:
        with self.ctx.store.read() as tx:
            row = tx.case_row(tx.school_id(sibling.school), sibling.pupil)
        if row is None or row.status != OPEN:
            row = None
        return replace(
            sibling,
            attendance_pct=attendance(sibling.school, sibling.pupil),
            stage=None if row is None else int(row.stage),
            state="" if row is None else str(row.state),
        )


class _Registers:
    """Attendance year to date as known now (through the school's last evaluated day, if
    earlier than today), one school's register read once."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._read: dict[str, RegisterAsKnown | None] = {}
        self._day: dict[str, int] = {}

    def attendance(self, school: str, pupil: str) -> float | None:
        if school not in self._read:
            self._read[school] = self._load(school)
        register = self._read[school]
        if register is None or pupil not in register.pupils:
            return None
        value = register.facts(self._day[school]).row(pupil).get("attendance_pct")
        return None if value is None or value != value else float(value)  # NaN: not known

    def _load(self, school: str) -> RegisterAsKnown | None:
        """The register as known now, through today or, when the school's evenings stop
        earlier (a daemon that has not run since), its last evaluated day."""
        setup = self.ctx.setup(school)
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            last = tx.last_evaluated_days().get(setup.school)
        through = setup.local_date(now)
        if last is not None and last < through:
            through = last
        calendar = setup.calendar
        try:
            day = calendar.index_on_or_before(through)
        except CalendarError:
            day = calendar.n_days - 1 if through > calendar.last_day else -1
        if day < 0:
            return None
        self._day[school] = day
        return RegisterAsKnown.load(self.ctx.store, setup, now, day)
