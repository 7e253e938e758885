"""What a scheduler needs from the store: when pending timers fire, and which school days were
evaluated. The timers table is the truth; a scheduler only mirrors these instants."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from escalation_flow.adapters.store.case_models import TIMER_PENDING
from escalation_flow.adapters.store.cases import SCHOOL_DAYS, SCHOOLS, TIMERS

if TYPE_CHECKING:
    from escalation_flow.service.service import Service


def pending_fire_times(service: Service, after: datetime | None, limit: int) -> list[datetime]:
    """The distinct instants at which pending timers fire, earliest first, later than ``after``
    (every pending one when None), at most ``limit`` of them."""
    t = TIMERS.c
    query = select(t.fire_at).where(t.status == TIMER_PENDING)
    if after is not None:
        query = query.where(t.fire_at > after)
    query = query.distinct().order_by(t.fire_at).limit(limit)
    with service.store.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def last_evaluated_days(service: Service) -> dict[str, date]:
    """Each school's latest evaluated school day (schools never evaluated are absent)."""
    d, s = SCHOOL_DAYS.c, SCHOOLS.c
    query = (
        select(s.key, func.max(d.day))
        .select_from(SCHOOL_DAYS)
        .join(SCHOOLS, s.id == d.school_id)
        .group_by(s.key)
    )
    with service.store.engine.connect() as conn:
        return {key: day for key, day in conn.execute(query).all() if day is not None}
