"""What a school's evening asks of ``school_days`` before it runs, in one statement.

An evening asks the school's row id, whether the day was evaluated, when the school was last
evaluated and its latest evaluated day; asked apart, these were four round trips a school (and
three more when the trust's loop asks ahead), each while the Python waits (issue 13). They are
read together, in the caller's transaction, as one row: still asked each time, since another
daemon may have run the school meanwhile.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from escalation_flow.adapters.store.cases import SCHOOL_DAYS, SCHOOLS
from escalation_flow.errors import NotFoundError
from escalation_flow.stored import SchoolDayState


def school_day_state(conn: Connection, school: str, day: date) -> SchoolDayState:
    """``school``'s row id and its ``school_days`` as of ``day`` (``SchoolDayState``)."""
    row = conn.execute(_statement(), {"key": school, "day": day}).first()
    if row is None:
        raise NotFoundError(f"school {school!r} is not in the store; import its marks first")
    school_id, evaluated_at, last_evaluated_at, latest_day = row
    return SchoolDayState(int(school_id), evaluated_at, last_evaluated_at, latest_day)


@cache
def _statement() -> Any:
    """Built once: building the construct costs more than running it."""
    s, d = SCHOOLS.c, SCHOOL_DAYS.c
    mine = d.school_id == s.id
    evaluated = select(d.evaluated_at).where(mine, d.day == bindparam("day")).scalar_subquery()
    # ``cases.last_evaluation``'s order: the most recently written, the later day on a tie
    last = (
        select(d.evaluated_at)
        .where(mine)
        .order_by(d.evaluated_at.desc(), d.day.desc())
        .limit(1)
        .scalar_subquery()
    )
    latest = select(func.max(d.day)).where(mine).scalar_subquery()
    return select(s.id, evaluated, last, latest).where(s.key == bindparam("key"))
