"""A pupil's siblings as one member of staff may see them.

A sibling is described by school, year group, attendance and open case (``Sibling``). Who looks
decides how much of it they see (``core.access``): a sibling the viewer may read in full is
shown in full; one at a school the viewer cannot read is "a sibling at another school in the
trust" and nothing else; one at the viewer's school but outside what they may read there (a
class teacher's other year groups) is "a sibling at this school" and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date

from escalation_flow.core.access import Principal

#: How a sibling the viewer may not read is shown.
ANOTHER_SCHOOL = "a sibling at another school in the trust"
SAME_SCHOOL = "a sibling at this school"


@dataclass(frozen=True)
class Sibling:
    """One sibling of a pupil, with what the service knows now; ``hidden`` (when not empty)
    is all the viewer may know, and every other field is then blank."""

    school: str
    pupil: str
    name: str = ""
    year_group: str = ""
    attendance_pct: float | None = None
    #: the open case's stage and state (None, "": no open case)
    stage: int | None = None
    state: str = ""
    #: the contacts with parental responsibility shared with the pupil (by name)
    via: tuple[str, ...] = ()
    hidden: str = ""
    date_of_birth: date | None = None

    def line(self) -> str:
        """One line for a person."""
        if self.hidden:
            return self.hidden
        year = f", year {self.year_group}" if self.year_group else ""
        if self.date_of_birth is not None:
            year += f", born {self.date_of_birth.isoformat()}"
        pct = "attendance not known"
        if self.attendance_pct is not None:
            pct = f"attendance {self.attendance_pct:.1f}%"
        case = f"open case at stage {self.stage}" if self.stage is not None else "no open case"
        if self.stage is not None and self.state:
            case += f" ({self.state})"
        via = f"; through {', '.join(self.via)}" if self.via else "; through another sibling"
        who = f"{self.name} ({self.pupil})" if self.name else self.pupil
        return f"{who} at {self.school}{year}: {pct}, {case}{via}"


def as_seen_by(viewer: Principal | None, school: str, siblings: Iterable[Sibling]) -> list[Sibling]:
    """``siblings`` of a pupil at ``school`` as ``viewer`` may see them (None: the service
    itself, e.g. the command line run by the trust's operators: everything). Siblings the
    viewer may not read keep their place in the list but say only where they are, and are
    listed after those the viewer may read."""
    if viewer is None:
        return list(siblings)
    return as_seen_where(school, siblings, viewer.can_read_pupil)


def as_seen_where(
    school: str, siblings: Iterable[Sibling], may_read: Callable[[str, str | None], bool]
) -> list[Sibling]:
    """``as_seen_by`` for a reader described by ``may_read(school, year_group)``: whether they
    may read a pupil of that year group (None: not known) at that school."""
    seen, hidden = [], []
    for s in siblings:
        if may_read(s.school, s.year_group or None):
            seen.append(s)
        else:
            where = SAME_SCHOOL if s.school == school else ANOTHER_SCHOOL
            hidden.append(Sibling(school="", pupil="", hidden=where))
    return seen + hidden


def reader_of(
    visible_schools: Collection[str] | None, viewer: Principal | None
) -> Callable[[str, str | None], bool]:
    """``may_read`` for a reader who sees the schools ``visible_schools`` (None: every school)
    and, when ``viewer`` is given, only what that member of staff may read there."""

    def may_read(school: str, year_group: str | None) -> bool:
        in_view = visible_schools is None or school in visible_schools
        return in_view and (viewer is None or viewer.can_read_pupil(school, year_group))

    return may_read
