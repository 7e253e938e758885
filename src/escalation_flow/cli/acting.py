"""May this member of staff do this at this school? The command line asks ``core.access`` the
pages' questions before a staff-acting command changes anything (issue: the command line only
checked ``letters approve``).

A ``--by`` naming no member of staff is left to the service (which refuses it and says how to
add one); a declared system actor (``engine``, ``auto``) is not a person with grants and keeps
working where it did. Stores built without a staff table (tests' in-memory stores) ask nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from escalation_flow.core.access import Principal
from escalation_flow.core.definition import Role
from escalation_flow.errors import ActionError
from escalation_flow.service import Service

#: What a rule lets someone do, in the words of the refusal.
Rule = Callable[[Principal], bool]


def principal_of(service: Service, by: str) -> Principal | None:
    """The member of staff named ``by`` and their grants; None when nobody of that name is on
    the staff (a system actor, or a name the service will refuse)."""
    from escalation_flow.adapters.store import Store
    from escalation_flow.adapters.store.staff_store import StaffStore

    if not isinstance(service.store, Store):
        return None
    staff = StaffStore(service.store.engine).by_username(by.strip())
    return None if staff is None else staff.principal()


def year_group(service: Service, school: str, pupil: str) -> str | None:
    """The pupil's year group at ``school`` (a class teacher acts only for the years taught)."""
    from escalation_flow.adapters.store import Store

    if not isinstance(service.store, Store) or school not in service.trust.schools:
        return None
    record = service.store.load_roster(school).pupils.get(pupil)
    return record.year_group if record else None


def require(service: Service, by: str, school: str, action: str, may: Rule, who_may: str) -> None:
    """Refuse (exit 2, one line) a member of staff who may not write at ``school`` or whose
    grants do not let them ``action`` there; ``who_may`` says who can."""
    person = principal_of(service, by)
    if person is None or (
        school not in service.trust.schools and school not in service.trust.aliases
    ):
        return  # the service refuses an unknown school, and names the schools there are
    school = service.trust.resolve_school(school)  # a URN names its school
    if person.can_write(school) and may(person):
        return
    held = "; ".join(g.describe() for g in person.grants) or "no role"
    raise ActionError(
        f"{person.username} may not {action} at {school}: they are {held}, and {who_may}; "
        "nothing was changed"
    )


def writes(person: Principal) -> bool:
    """Anyone who may write at the school (``can_write`` is asked by ``require`` itself)."""
    return True


def leads(school: str) -> Rule:
    """The school's attendance lead or headteacher, or the trust's attendance team."""
    return lambda person: person.is_leader(school)


def records_for_the_local_authority(school: str) -> Rule:
    """Whoever records the local authority's steps there (the attendance lead) or leads it."""
    return lambda person: person.may_complete(school, Role.LOCAL_AUTHORITY.value, None)


#: ``who_may`` phrases, one per rule.
ANY_WRITER = "only staff of that school (not auditors) change anything there"
LEADERS = (
    "only its attendance lead, headteacher or the trust's attendance team may do that "
    "(auditors change nothing)"
)
