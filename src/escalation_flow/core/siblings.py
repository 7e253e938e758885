"""A pupil's siblings as one member of staff may see them.

A sibling is described by school, year group, attendance and open case (``Sibling``). Who looks
decides how much of it they see (``core.access``): a sibling the viewer may read in full is
shown in full; one at a school the viewer cannot read is "a sibling at another school in the
trust" and nothing else; one at the viewer's school but outside what they may read there (a
class teacher's other year groups) is "a sibling at this school" and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    seen, hidden = [], []
    for s in siblings:
        if viewer is None or viewer.can_read_pupil(s.school, s.year_group or None):
            seen.append(s)
        else:
            where = SAME_SCHOOL if s.school == school else ANOTHER_SCHOOL
            hidden.append(Sibling(school="", pupil="", hidden=where))
    return seen + hidden
