"""Each school's headline figures, kept when its register is read anyway (the evening), so that
the dashboards show thirty schools from thirty rows instead of thirty registers.

Kept under a ``FiguresKey``: the school day the facts are counted at, the newest import's id
when the register was read (read before it, so that an import landing during the read leaves
the figures under the older id, never the newer), and the flow version that counts them. The
pages ask for exactly the key they would count now and count (and keep) on a miss: the rule the
pages' own register cache keeps (one register per school, day and import). A register read
while the store holds marks recorded after the instant asked (a simulated clock over a term
imported at once) is not kept from: read later, the same import gives another register.
"""

from __future__ import annotations

from collections.abc import Mapping

from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.core.facts import FactTable, KnownFacts
from escalation_flow.core.marks import Roster
from escalation_flow.core.register import RegisterGrid
from escalation_flow.core.school_figures import SchoolFigures, school_figures
from escalation_flow.core.school_weeks import school_weeks
from escalation_flow.core.session_counts import CumulativeCounts
from escalation_flow.ports import FiguresKey, SchoolFiguresBook, SchoolPage, SchoolPagesBook
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.register import RegisterAsKnown, SchoolSetup

#: The facts of each pupil the school dashboard reads (its headline, the attendance beside each
#: open case, the register problems): what a kept page holds of the facts table.
PAGE_FACTS = (
    "attendance_pct",
    "attended_sessions",
    "possible_sessions",
    "persistent_absence",
    "severe_absence",
    "unmarked_sessions",
    "oldest_unresolved_n_school_days",
)


def school_page(
    facts: FactTable, grid: RegisterGrid, calendar: SchoolCalendar, minimum: int
) -> SchoolPage:
    """What the school dashboard reads from the register at ``facts``' day: the pupils' facts
    it shows and the trends' weeks, as ``minimum`` possible sessions count a percentage."""
    this, last = school_weeks(grid, calendar, facts.day_index, minimum)
    columns = {name: tuple(float(v) for v in facts.values[name]) for name in PAGE_FACTS}
    return SchoolPage(facts.pupils, columns, this, last)


def whole_school(roster: Roster, facts: FactTable | None) -> set[str]:
    """Every pupil the school's figures count: on the roster or on the register."""
    return set(roster.pupils) | set(facts.pupils if facts is not None else ())


class SchoolFiguresDesk:
    """Keeps and finds the figures (``book``: None for a store that keeps none, as in memory)."""

    def __init__(self, ctx: ServiceContext, book: SchoolFiguresBook | None) -> None:
        self.ctx = ctx
        self.book = book
        self.pages = book if isinstance(book, SchoolPagesBook) else None

    def import_stamp(self) -> int:
        return 0 if self.book is None else self.book.import_stamp()

    def key(self, setup: SchoolSetup, day: int, stamp: int) -> FiguresKey:
        return FiguresKey(setup.calendar.school_days[day], stamp, setup.flow.version)

    def kept(self, wanted: Mapping[str, FiguresKey]) -> dict[str, SchoolFigures]:
        return {} if self.book is None else self.book.school_figures(wanted)

    def keep(self, school: str, key: FiguresKey, figures: SchoolFigures) -> None:
        if self.book is not None:
            self.book.keep_school_figures(school, key, figures, self.ctx.now())

    def kept_page(self, school: str, key: FiguresKey) -> SchoolPage | None:
        return None if self.pages is None else self.pages.school_page(school, key)

    def keep_page(self, school: str, key: FiguresKey, page: SchoolPage) -> None:
        if self.pages is not None:
            self.pages.keep_school_page(school, key, page, self.ctx.now())

    def keep_evening(self, register: RegisterAsKnown, day: int, stamp: int) -> None:
        """After the evening of school day ``day``: the figures of that day (a page that
        evening, or until the next school day) and of the next one, before its marks (a page
        the next morning, before any import, counts its facts at the end of that day); with
        each, the school page's (``school_page``)."""
        if self.book is None or register.grid.later_marks:
            return
        setup = register.setup
        minimum = setup.flow.definition.min_possible_sessions
        facts = register.facts(day)
        self._keep_day(register, self.key(setup, day, stamp), facts, minimum)
        after = day + 1
        if after < setup.calendar.n_days:
            counts = CumulativeCounts(register.grid, setup.calendar, through_day=after)
            tomorrow = KnownFacts(counts).at(after, minimum)
            self._keep_day(register, self.key(setup, after, stamp), tomorrow, minimum)

    def _keep_day(
        self, register: RegisterAsKnown, key: FiguresKey, facts: FactTable, minimum: int
    ) -> None:
        school = register.setup.school
        self.keep(school, key, _figures(register.roster, facts))
        if self.pages is not None:
            page = school_page(facts, register.grid, register.setup.calendar, minimum)
            self.keep_page(school, key, page)


def _figures(roster: Roster, facts: FactTable) -> SchoolFigures:
    return school_figures(facts, whole_school(roster, facts))
