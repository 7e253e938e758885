"""Queries the pages need beyond the service's: counts for dashboards, and the letters.

They read the daemon's tables (``adapters.store.cases``) and never write to them: every change
goes through the service.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine

from escalation_flow.adapters.store.cases import CASES, LETTERS, SCHOOL_DAYS, TASKS
from escalation_flow.adapters.store.models import School
from escalation_flow.errors import NotFoundError


@dataclass(frozen=True)
class OpenCase:
    id: int
    pupil: str
    stage: int
    state: str
    opened_on: dt.date | None
    flow_version: str = ""  # the version it runs under (service.versions)


@dataclass(frozen=True)
class TaskCount:
    role: str
    overdue: int
    this_week: int
    next_week: int


@dataclass(frozen=True)
class Letter:
    id: int
    task_id: int
    case_id: int
    school: str
    pupil: str
    template: str
    status: str
    prepared_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    sent_by: str | None
    sent_at: dt.datetime | None
    task_role: str
    task_status: str
    task_due: dt.date | None

    @property
    def status_text(self) -> str:
        return {
            "prepared": "prepared, waiting for approval",
            "approved": "approved, ready to send",
            "sent": "sent",
            "superseded": "no longer needed (the case moved on before it was sent)",
        }.get(self.status, self.status)


def school_id(engine: Engine, school: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(select(School.id).where(School.key == school)).scalar()
    if found is None:
        raise NotFoundError(f"no school {school!r}")
    return int(found)


def open_cases(engine: Engine, school: str) -> list[OpenCase]:
    sid = school_id(engine, school)
    query = (
        select(
            CASES.c.id,
            CASES.c.pupil,
            CASES.c.stage,
            CASES.c.state,
            CASES.c.opened_on,
            CASES.c.flow_version,
        )
        .where((CASES.c.school_id == sid) & (CASES.c.status == "open"))
        .order_by(CASES.c.stage.desc(), CASES.c.pupil)
    )
    with engine.connect() as conn:
        return [OpenCase(*row) for row in conn.execute(query)]


def stage_counts(engine: Engine) -> dict[str, Counter[int]]:
    """Open cases per school and stage, for the trust overview."""
    query = (
        select(School.key, CASES.c.stage, func.count())
        .select_from(CASES)
        .join(School, School.id == CASES.c.school_id)
        .where(CASES.c.status == "open")
        .group_by(School.key, CASES.c.stage)
    )
    out: dict[str, Counter[int]] = {}
    with engine.connect() as conn:
        for school, stage, n in conn.execute(query):
            out.setdefault(school, Counter())[int(stage)] = int(n)
    return out


def open_task_rows(engine: Engine, school: str, until: dt.date) -> list[tuple[str, str, dt.date]]:
    """(pupil, role, due) of the open tasks of a school due by ``until``."""
    sid = school_id(engine, school)
    query = select(TASKS.c.pupil, TASKS.c.role, TASKS.c.due).where(
        (TASKS.c.school_id == sid) & (TASKS.c.status == "open") & (TASKS.c.due <= until)
    )
    with engine.connect() as conn:
        return [(p, r, d) for p, r, d in conn.execute(query)]


def overdue_counts(engine: Engine, today: dt.date) -> Counter[str]:
    """Open tasks past their due date, per school."""
    query = (
        select(School.key, func.count())
        .select_from(TASKS)
        .join(School, School.id == TASKS.c.school_id)
        .where((TASKS.c.status == "open") & (TASKS.c.due < today))
        .group_by(School.key)
    )
    with engine.connect() as conn:
        return Counter({school: int(n) for school, n in conn.execute(query)})


def _letter_query() -> Select[Any]:
    return select(
        LETTERS.c.id,
        LETTERS.c.task_id,
        LETTERS.c.case_id,
        School.key,
        CASES.c.pupil,
        LETTERS.c.template,
        LETTERS.c.status,
        LETTERS.c.prepared_at,
        LETTERS.c.approved_by,
        LETTERS.c.approved_at,
        LETTERS.c.sent_by,
        LETTERS.c.sent_at,
        TASKS.c.role,
        TASKS.c.status,
        TASKS.c.due,
    ).select_from(
        LETTERS.join(CASES, CASES.c.id == LETTERS.c.case_id)
        .join(School, School.id == CASES.c.school_id)
        .join(TASKS, TASKS.c.id == LETTERS.c.task_id)
    )


def letters_of(engine: Engine, school: str, pupil: str) -> list[Letter]:
    query = (
        _letter_query()
        .where((School.key == school) & (CASES.c.pupil == pupil))
        .order_by(LETTERS.c.id.desc())
    )
    with engine.connect() as conn:
        return [Letter(*row) for row in conn.execute(query)]


@dataclass(frozen=True)
class Freshness:
    """When the data was last brought in and last evaluated."""

    last_import_at: dt.datetime | None
    last_day_evaluated: dt.date | None


def freshness(engine: Engine, school: str) -> Freshness:
    from escalation_flow.adapters.store.models import Import

    sid = school_id(engine, school)
    with engine.connect() as conn:
        imported = conn.execute(select(func.max(Import.finished_at))).scalar()
        evaluated = conn.execute(
            select(func.max(SCHOOL_DAYS.c.day)).where(SCHOOL_DAYS.c.school_id == sid)
        ).scalar()
    return Freshness(imported, evaluated)
