"""Who may see and do what: staff roles per school, as pure rules.

A member of staff holds *grants*: a role at one school, or at every school of the trust
(``school`` is None). The rules, in one place so that every page asks the same questions:

- **Reading.** A grant at a school lets its holder read that school; a trust-wide grant reads
  every school. A class teacher reads only the pupils of the year groups they teach.
- **Worklist.** Open tasks whose ``role`` is one of the holder's roles at that school (an
  attendance lead also takes the attendance team's and records the local authority's steps;
  a headteacher also takes the head of academy's). A class teacher's are limited to their
  year groups. ``attendance_team`` held with no school is the trust's central team.
- **Acting.** Completing a task: its role is the holder's there, or the holder leads attendance
  at that school (attendance lead, headteacher) or is on the trust's attendance team. Approving
  a letter: the same leaders, or the designated safeguarding lead for the letters that are
  theirs. Auditors act on nothing, anywhere.
- **Safeguarding.** Details of safeguarding records are shown only to the school's designated
  safeguarding lead and to the trust's attendance team; everyone else, auditors included, sees
  that a restricted record exists, not what it says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from escalation_flow.core.definition import Role


class ServiceRole(StrEnum):
    """Roles the service adds to the flows' task roles: held by staff, never given a task."""

    #: reads everything it is granted, changes nothing
    AUDITOR = "auditor"
    #: the data protection officer: reads what it is granted, answers subject access requests
    #: and sees what is due for erasure; acts on no case
    DATA_PROTECTION_OFFICER = "data_protection_officer"


#: A role a member of staff holds: one of the flows' task roles (``Role``; ``attendance_team``
#: held with no school is the trust's central team), or one the service adds (``ServiceRole``).
StaffRole: TypeAlias = Role | ServiceRole
#: Flow task roles nobody holds: the school records what the local authority does.
NOT_HELD: frozenset[Role] = frozenset({Role.LOCAL_AUTHORITY})
#: Every role a member of staff can hold, in the order they are listed to people.
HELD_ROLES: tuple[StaffRole, ...] = (*(r for r in Role if r not in NOT_HELD), *ServiceRole)
_HELD_BY_NAME: dict[str, StaffRole] = {r.value: r for r in HELD_ROLES}


def staff_role(name: str) -> StaffRole:
    """The role called ``name``; ValueError when no member of staff can hold it."""
    try:
        return _HELD_BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a role staff hold") from None


#: Roles that may be held either at one school or across the trust (no school).
EITHER_ROLES: frozenset[StaffRole] = frozenset(
    {Role.ATTENDANCE_TEAM, ServiceRole.AUDITOR, ServiceRole.DATA_PROTECTION_OFFICER}
)
#: Roles that read but never act on a case: no tasks, no recording, no approving.
READ_ONLY_ROLES: frozenset[StaffRole] = frozenset(
    {ServiceRole.AUDITOR, ServiceRole.DATA_PROTECTION_OFFICER}
)
#: Leaders who may complete any task of their school and approve its letters.
LEADERS: frozenset[StaffRole] = frozenset(
    {Role.ATTENDANCE_LEAD, Role.HEADTEACHER, Role.HEAD_OF_ACADEMY}
)
#: Flow task roles a staff role also covers.
_ALSO_COVERS: dict[str, frozenset[str]] = {
    # The lead leads the school's attendance team and records what the local authority does.
    Role.ATTENDANCE_LEAD: frozenset({Role.ATTENDANCE_TEAM.value, Role.LOCAL_AUTHORITY.value}),
    Role.HEADTEACHER: frozenset({Role.HEAD_OF_ACADEMY.value}),
    Role.HEAD_OF_ACADEMY: frozenset({Role.HEADTEACHER.value}),
}

ROLE_TITLES: dict[str, str] = {
    "class_teacher": "Class teacher",
    "attendance_lead": "Attendance lead",
    "admin_staff": "School office",
    "headteacher": "Headteacher",
    "head_of_academy": "Head of academy",
    "family_liaison_officer": "Family liaison officer",
    "child_family_support_worker": "Child and family support worker",
    "senco": "SENCo",
    "wellbeing_lead": "Wellbeing lead",
    "pastoral_manager": "Pastoral manager",
    "designated_safeguarding_lead": "Designated safeguarding lead",
    "attendance_team": "Attendance team",
    "local_authority": "Local authority (recorded by the school)",
    "auditor": "Auditor (read only)",
    "data_protection_officer": "Data protection officer",
}


def role_title(role: str) -> str:
    return ROLE_TITLES.get(role, role.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Grant:
    """One role at one school (``school`` None: every school of the trust)."""

    role: StaffRole
    school: str | None
    #: class teachers: the year groups taught; None: the whole school
    year_groups: frozenset[str] | None = None

    def covers_school(self, school: str) -> bool:
        return self.school is None or self.school == school

    def covers_pupil(self, school: str, year_group: str | None) -> bool:
        if not self.covers_school(school):
            return False
        return self.year_groups is None or (year_group or "") in self.year_groups

    def describe(self) -> str:
        title = role_title(self.role)
        if self.school is None:
            trust = "Trust attendance team" if self.role is Role.ATTENDANCE_TEAM else title
            return f"{trust}, every school"
        years = f" (years {', '.join(sorted(self.year_groups))})" if self.year_groups else ""
        return f"{title} at {self.school}{years}"


def check_grant(grant: Grant) -> str | None:
    """Why a grant cannot be held, or None when it can."""
    if grant.role not in EITHER_ROLES and grant.school is None:
        return f"{grant.role} is held at a school: give --school"
    if grant.year_groups is not None and grant.role is not Role.CLASS_TEACHER:
        return "only class teachers are limited to year groups"
    if grant.role is Role.CLASS_TEACHER and not grant.year_groups:
        return "a class teacher needs the year groups they teach (--year-group)"
    return None


def _trust_team(grant: Grant) -> bool:
    return grant.role is Role.ATTENDANCE_TEAM and grant.school is None


@dataclass(frozen=True)
class Principal:
    """A logged-in member of staff and everything they hold."""

    staff_id: int
    username: str
    name: str
    grants: tuple[Grant, ...]

    # -- reading --------------------------------------------------------------------------------

    def readable_schools(self, every_school: Iterable[str]) -> list[str]:
        return [s for s in every_school if self.can_read_school(s)]

    def can_read_school(self, school: str) -> bool:
        return any(g.covers_school(school) for g in self.grants)

    def sees_whole_school(self, school: str) -> bool:
        """True unless every grant at this school is limited to some year groups."""
        return any(g.covers_school(school) and g.year_groups is None for g in self.grants)

    def year_groups_at(self, school: str) -> frozenset[str] | None:
        """The year groups this person may read at ``school``; None: all of them."""
        if self.sees_whole_school(school):
            return None
        out: set[str] = set()
        for g in self.grants:
            if g.covers_school(school) and g.year_groups:
                out |= g.year_groups
        return frozenset(out)

    def can_read_pupil(self, school: str, year_group: str | None) -> bool:
        return any(g.covers_pupil(school, year_group) for g in self.grants)

    @property
    def is_trust_wide(self) -> bool:
        return any(g.school is None for g in self.grants)

    # -- safeguarding ---------------------------------------------------------------------------

    def is_data_protection_officer(self, school: str | None = None) -> bool:
        """Holds the data protection officer's role (at ``school``; None: across the trust)."""
        return any(
            g.role is ServiceRole.DATA_PROTECTION_OFFICER
            and (g.school is None if school is None else g.covers_school(school))
            for g in self.grants
        )

    def sees_safeguarding(self, school: str) -> bool:
        for g in self.grants:
            if not g.covers_school(school):
                continue
            if g.role is Role.DESIGNATED_SAFEGUARDING_LEAD:
                return True
            if g.role is Role.ATTENDANCE_TEAM and g.school is None:
                return True
        return False

    # -- worklist and acting --------------------------------------------------------------------

    def task_roles(self, school: str) -> frozenset[str]:
        """The flow task roles whose tasks at ``school`` are this person's to do."""
        roles: set[str] = set()
        for g in self.grants:
            if g.role in READ_ONLY_ROLES or not g.covers_school(school):
                continue
            roles.add(g.role.value)
            roles |= _ALSO_COVERS.get(g.role, frozenset())
        return frozenset(roles)

    def can_write(self, school: str) -> bool:
        return any(g.covers_school(school) and g.role not in READ_ONLY_ROLES for g in self.grants)

    def is_leader(self, school: str) -> bool:
        return any(
            g.covers_school(school) and (g.role in LEADERS or _trust_team(g)) for g in self.grants
        )

    def is_mine(self, school: str, role: str, year_group: str | None) -> bool:
        """A task for ``role`` about a pupil in ``year_group`` is on this person's worklist."""
        for g in self.grants:
            if g.role in READ_ONLY_ROLES or not g.covers_pupil(school, year_group):
                continue
            if role == g.role.value or role in _ALSO_COVERS.get(g.role, frozenset()):
                return True
        return False

    def may_complete(self, school: str, role: str, year_group: str | None) -> bool:
        return self.is_mine(school, role, year_group) or self.is_leader(school)

    def may_approve_letter(self, school: str, role: str) -> bool:
        if self.is_leader(school):
            return True
        return role == Role.DESIGNATED_SAFEGUARDING_LEAD.value and self.sees_safeguarding(school)
