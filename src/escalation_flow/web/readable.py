"""What this member of staff may read: a school, a pupil. Anything else is "not found", with
no hint that it exists (``core.access`` decides)."""

from __future__ import annotations

from escalation_flow.core.access import Principal
from escalation_flow.core.marks import PupilRecord
from escalation_flow.errors import NotFoundError
from escalation_flow.web.school_data import register_of
from escalation_flow.web.webapp import WebApp


def readable_school(user: Principal, web: WebApp, school: str) -> str:
    """The school's id if this user may read it; NotFoundError otherwise."""
    try:
        key = web.service.trust.resolve_school(school)
    except NotFoundError:
        raise NotFoundError(f"no school {school!r}") from None
    if not user.can_read_school(key):
        raise NotFoundError(f"no school {school!r}")
    return key


def readable_pupil(
    web: WebApp, user: Principal, school_key: str, pupil: str
) -> tuple[str, PupilRecord]:
    """The school and the pupil's record, if this person may read them; else NotFoundError."""
    school = readable_school(user, web, school_key)
    register = register_of(web, school, web.today())
    known = pupil in register.roster.pupils or (
        register.facts is not None and pupil in register.facts.pupils
    )
    record = register.pupil(pupil)
    if not known or not user.can_read_pupil(school, record.year_group or None):
        raise NotFoundError(f"no pupil {pupil!r}")
    return school, record
