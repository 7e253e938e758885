"""Reading and writing ``contacts`` (every version of every contact of every pupil).

An import adds a version only when it says something new: a row with its own ``recorded_at``
already stored with the same details is "already known", and one stored with other details at
that very instant is refused (two truths about one moment); a row without ``recorded_at`` is
compared with the contact's latest stored version and added, at the import's time, only if it
differs. Re-importing a file therefore changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, select

from escalation_flow.adapters.contact_files import ContactsRead, new_versions
from escalation_flow.adapters.store.contact_models import Contact
from escalation_flow.adapters.store.models import School, table_of
from escalation_flow.core.contacts import ContactVersion


def insert_contacts(
    conn: Connection,
    result: ContactsRead,
    school_ids: Mapping[str, int],
    import_id: int,
    now: dt.datetime,
) -> int:
    """Add the new versions of ``result``; how many were new. Raises ``RegisterError`` (and
    writes nothing: the caller's transaction rolls back) for a row that contradicts a stored
    version at the same instant."""
    stored = read_versions(conn, school_ids.values())
    rows = [_values(v, school_ids[v.school], import_id, now) for v in new_versions(stored, result)]
    if rows:
        conn.execute(table_of(Contact).insert(), rows)
    return len(rows)


def _values(v: ContactVersion, school_id: int, import_id: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "school_id": school_id,
        "pupil": v.pupil,
        "contact": v.contact,
        "recorded_at": v.recorded_at,
        "name": v.name,
        "relationship": v.relationship,
        "parental_responsibility": v.parental_responsibility,
        "lives_with_pupil": v.lives_with_pupil,
        "address": v.address,
        "email": v.email,
        "telephone": v.telephone,
        "priority": v.priority,
        "may_be_contacted": v.may_be_contacted,
        "imported_at": now,
        "import_id": import_id,
    }


def read_versions(
    conn: Connection, school_ids: Iterable[int] | None = None
) -> list[ContactVersion]:
    """Every stored version (of these schools; None: all), oldest import first."""
    table = table_of(Contact)
    query = (
        select(table, School.key.label("school_key"))
        .join(School, School.id == table.c.school_id)
        .order_by(table.c.id)
    )
    if school_ids is not None:
        query = query.where(table.c.school_id.in_(list(school_ids)))
    return [_version(r) for r in conn.execute(query).mappings()]


def read_pupil_versions(
    conn: Connection, school: str, pupils: Iterable[str]
) -> list[ContactVersion]:
    """Every stored version of the contacts of these pupils of one school (by its key)."""
    table = table_of(Contact)
    query = (
        select(table, School.key.label("school_key"))
        .join(School, School.id == table.c.school_id)
        .where(School.key == school, table.c.pupil.in_(sorted(set(pupils))))
        .order_by(table.c.id)
    )
    return [_version(r) for r in conn.execute(query).mappings()]


def _version(r: Any) -> ContactVersion:
    return ContactVersion(
        school=r["school_key"],
        pupil=r["pupil"],
        contact=r["contact"],
        name=r["name"],
        relationship=r["relationship"],
        parental_responsibility=bool(r["parental_responsibility"]),
        recorded_at=r["recorded_at"],
        lives_with_pupil=r["lives_with_pupil"],
        address=r["address"],
        email=r["email"],
        telephone=r["telephone"],
        priority=r["priority"],
        may_be_contacted=r["may_be_contacted"],
    )
