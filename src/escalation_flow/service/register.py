"""A school as the service evaluates it: its flow, calendar and settings, and its register as
known now, counted through a school day (the same reading the backtest makes, from the store)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from escalation_flow.adapters.trust_files import SchoolConfig
from escalation_flow.core.calendar import DEFAULT_REGISTERS_CLOSE, SchoolCalendar
from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.definition import Flow
from escalation_flow.core.engine import Context
from escalation_flow.core.facts import FactTable, KnownFacts
from escalation_flow.core.marks import Roster
from escalation_flow.core.penalty_notices import NO_NOTICES
from escalation_flow.core.register import RegisterGrid
from escalation_flow.core.school_day import BoolArray, SchoolCases
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.errors import CalendarError
from escalation_flow.ports import Registers, SchoolRead
from escalation_flow.service.notice_facts import NoticeRegisterAsKnown

T = TypeVar("T")

@dataclass(frozen=True)
class SchoolSetup:
    """What stays fixed for a school while the service runs (read from the trust file)."""

    school: str
    config: SchoolConfig
    flow: Flow
    calendar: SchoolCalendar

    @cached_property
    def ctx(self) -> Context:
        return Context(self.flow, self.calendar)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.timezone)

    @property
    def registers_close(self) -> time:
        close = self.config.registers_close_at
        return time.fromisoformat(close) if close else DEFAULT_REGISTERS_CLOSE

    def book(
        self,
        pupils: tuple[str, ...],
        *,
        decides_for: BoolArray | None = None,
        makes_universal_tasks: bool = True,
    ) -> SchoolCases:
        return SchoolCases(
            ctx=self.ctx,
            school=self.school,
            pupils=pupils,
            registers_close=self.registers_close,
            decides_for=decides_for,
            makes_universal_tasks=makes_universal_tasks,
        )

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def action_day(self, instant: datetime) -> int:
        """The school day a staff action or a timer at ``instant`` belongs to: its own date if
        that is a school day, else the next school day (the backtest's rule), else the last."""
        local = self.local_date(instant)
        cal = self.calendar
        try:
            return cal.day_index(cal.next_school_day_on_or_after(local))
        except CalendarError:
            last = cal.index_on_or_before(local)
            if last < 0:
                raise
            return last


@dataclass
class RegisterAsKnown:
    """One school's register as known at an instant (``load``'s ``known_at``: the service's now),
    with its running counts through a school day, and the facts they give."""

    setup: SchoolSetup
    grid: RegisterGrid
    counts: CumulativeCounts
    roster: Roster
    #: the penalty-notice register as known at the same instant (None: no notices known)
    notices: NoticeRegisterAsKnown | None = None
    _derived: dict[tuple[str, int], Any] = field(default_factory=dict)

    @cached_property
    def known(self) -> KnownFacts:
        """The facts of this reading, asked for as a flow version counts them (core's one way,
        shared with the pages and replay)."""
        return KnownFacts(self.counts)

    @classmethod
    def load(
        cls,
        store: Registers,
        setup: SchoolSetup,
        known_at: datetime,
        through: int,
        read: SchoolRead | None = None,
        contacts: Sequence[ContactVersion] | None = None,
    ) -> RegisterAsKnown:
        """The register as known at ``known_at``, counted through school day ``through``;
        ``read``: already read (``store.register_reader()``, never ``store.load_marks``);
        ``contacts``: the store's contact versions, already read."""
        if read is None:
            with store.register_reader() as reader:
                read = reader.read(setup.school, setup.calendar, known_at)
        counts = CumulativeCounts(read.grid, setup.calendar, through_day=max(through, 0))
        notices = NoticeRegisterAsKnown.read(store, setup.school, known_at, contacts)
        return cls(setup, read.grid, counts, read.roster, notices)

    @property
    def pupils(self) -> tuple[str, ...]:
        return self.grid.pupils

    def facts(self, day: int, flow: Flow | None = None) -> FactTable:
        """Facts at the end of school day ``day`` (before the first day: the first day's), as
        ``flow`` counts them (default: the school's current flow; an earlier version that open
        cases still run under may ask a different minimum of sessions for a percentage)."""
        minimum = (flow or self.setup.flow).definition.min_possible_sessions
        facts = self.known.at(day, minimum)
        return self.derived(
            f"notice_facts:{minimum}",
            facts.day_index,
            lambda: replace(facts, values={**facts.values, **self._notice_facts(facts)}),
        )

    def _notice_facts(self, facts: FactTable) -> dict[str, npt.NDArray[np.float64]]:
        """The penalty-notice register's facts for the day (none known: no notice anywhere)."""
        if self.notices is None:
            return {n: np.full(len(facts.pupils), v) for n, v in NO_NOTICES.items()}
        return self.notices.facts(facts.pupils, facts.as_of)

    def derived(self, name: str, day: int, build: Callable[[], T]) -> T:
        """A figure derived from the register for a day, built once (letters' raw percentages)."""
        key = (name, day)
        if key not in self._derived:
            self._derived[key] = build()
        value: T = self._derived[key]
        return value

    def morning_facts(self, day: int, flow: Flow | None = None) -> FactTable:
        """What a timer or a staff action on school day ``day`` is decided on: the facts at the
        end of the previous school day (on the calendar's first day, that day's)."""
        return self.facts(day - 1 if day > 0 else 0, flow)


def year_start(calendar: SchoolCalendar, day: int) -> date:
    return calendar.school_days[calendar.year_of(day).first]


def day_before(day: date) -> date:
    return day - timedelta(days=1)
