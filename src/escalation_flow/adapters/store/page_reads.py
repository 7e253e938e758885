"""What the staff pages read beyond the service's use cases (``ports.PageReads``), in SQL.

The store owns its tables, so the queries over them live here, next to their definitions
(``cases.py``, ``models.py``): the pages ask for read models and never see a table or a
dialect. Every query only reads; changes go through the service.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select

from escalation_flow.adapters.store.cases import CASES, EVENTS, LETTERS, SCHOOL_DAYS, TASKS
from escalation_flow.adapters.store.models import Import, Pupil, School
from escalation_flow.adapters.store.records import RECORDS
from escalation_flow.adapters.store.store import Store
from escalation_flow.core.marks import Roster
from escalation_flow.errors import NotFoundError
from escalation_flow.ports import Freshness, LetterView, OpenCase, StageMove, TaskDue, WorkTask


class SqlPageReads:
    """``PageReads`` over one store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def open_cases(self, school: str) -> list[OpenCase]:
        with self.engine.connect() as conn:
            sid = _school_id(conn, school)
            query = _open_case_query().where(CASES.c.school_id == sid)
            return [OpenCase(*row[1:]) for row in conn.execute(query)]

    def work_tasks(self, schools: Sequence[str]) -> dict[str, list[WorkTask]]:
        # one query for every school asked (on the (school_id, status, due) index), the roster's
        # names joined in SQL, plain tuples out: the worklist's rebuild after an import reads
        # 26,000 rows, and a row object and a view per task cost more than the read itself
        t, pupils, c = TASKS.c, Pupil.__table__.c, CASES.c
        # the columns in ``WorkTask``'s order
        columns = [
            t.id, School.key, t.pupil, t.task, t.role, t.kind, t.due, t.status, t.approval,
            t.created_on, t.case_id, t.key, t.template, t.completed_by, t.completed_at,
            t.outcome, t.note, LETTERS.c.id, LETTERS.c.status, t.covers, pupils.forename,
            pupils.surname, pupils.year_group, c.stage, c.state, c.flow_version,
        ]  # fmt: skip
        query = (
            select(*columns)
            .select_from(TASKS)
            .join(School, School.id == t.school_id)
            .outerjoin(LETTERS, LETTERS.c.task_id == t.id)
            .outerjoin(Pupil, (pupils.school_id == t.school_id) & (pupils.mis_id == t.pupil))
            # one case a pupil and school (unique): their open one, or none
            .outerjoin(
                CASES, (c.school_id == t.school_id) & (c.pupil == t.pupil) & (c.status == "open")
            )
            .where(t.status == "open")  # in no order: the worklist sorts its rows itself
        )
        out: dict[str, list[WorkTask]] = {}
        with self.engine.connect() as conn:
            ids = _school_ids(conn, schools)
            rows = conn.execute(query.where(t.school_id.in_(list(ids)))).all()
        for row in rows:
            out.setdefault(row[1], []).append(WorkTask._make(row))
        return out

    def stage_counts(self) -> dict[str, Counter[int]]:
        query = (
            select(School.key, CASES.c.stage, func.count())
            .select_from(CASES)
            .join(School, School.id == CASES.c.school_id)
            .where(CASES.c.status == "open")
            .group_by(School.key, CASES.c.stage)
        )
        out: dict[str, Counter[int]] = {}
        with self.engine.connect() as conn:
            for school, stage, n in conn.execute(query):
                out.setdefault(school, Counter())[int(stage)] = int(n)
        return out

    def tasks_due_by(self, school: str, until: dt.date) -> list[TaskDue]:
        with self.engine.connect() as conn:
            sid = _school_id(conn, school)
            query = select(TASKS.c.pupil, TASKS.c.role, TASKS.c.due).where(
                (TASKS.c.school_id == sid) & (TASKS.c.status == "open") & (TASKS.c.due <= until)
            )
            return [TaskDue(pupil or "", role, due) for pupil, role, due in conn.execute(query)]

    def overdue_counts(self, today: dt.date) -> Counter[str]:
        query = (
            select(School.key, func.count())
            .select_from(TASKS)
            .join(School, School.id == TASKS.c.school_id)
            .where((TASKS.c.status == "open") & (TASKS.c.due < today))
            .group_by(School.key)
        )
        with self.engine.connect() as conn:
            return Counter({school: int(n) for school, n in conn.execute(query)})

    def letters_of(self, school: str, pupil: str) -> list[LetterView]:
        query = (
            _letter_query()
            .where((School.key == school) & (CASES.c.pupil == pupil))
            .order_by(LETTERS.c.id.desc())
        )
        with self.engine.connect() as conn:
            return [LetterView(**row) for row in conn.execute(query).mappings()]

    def freshness(self, school: str) -> Freshness:
        with self.engine.connect() as conn:
            sid = _school_id(conn, school)
            imported = conn.execute(select(func.max(Import.finished_at))).scalar()
            evaluated = conn.execute(
                select(func.max(SCHOOL_DAYS.c.day)).where(SCHOOL_DAYS.c.school_id == sid)
            ).scalar()
        return Freshness(imported, evaluated)

    def import_stamp(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(Import.id))).scalar()
        return int(value or 0)

    def roster_stamp(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(Import.id)).where(Import.kind == "roster")).scalar()
        return int(value or 0)

    def work_stamps(self) -> dict[str, tuple[int, ...]]:
        # A case's ``length`` grows with each event written to it (a decision, a completion);
        # a letter prepared, approved or erased appends a record to the case's chain
        # ("case:<school>/<pupil>"; the staff audit's chains are left out, so that a download
        # does not rebuild the next page); a task opened raises the newest open id, one
        # completed without a case, or lapsed, lowers the open count.
        # one school at a time: each query stays on an index ((school_id, role, status) covers
        # the tasks'), where one grouped query walks every open task's row
        t, c = TASKS.c, CASES.c
        tasks = select(func.count(), func.max(t.id)).where(
            (t.school_id == bindparam("sid")) & (t.status == "open")
        )
        cases = select(func.count(), func.sum(c.length)).where(
            (c.school_id == bindparam("sid")) & (c.status == "open")
        )
        out: dict[str, tuple[int, ...]] = {}
        with self.engine.connect() as conn:
            for school_id, key in conn.execute(select(School.id, School.key)):
                prefix = f"case:{key}/"
                in_school = (RECORDS.c.chain >= prefix) & (RECORDS.c.chain < prefix[:-1] + "0")
                letters = conn.execute(select(func.max(RECORDS.c.id)).where(in_school)).scalar()
                found = [
                    *conn.execute(tasks, {"sid": school_id}).one(),
                    *conn.execute(cases, {"sid": school_id}).one(),
                    letters,
                ]
                out[str(key)] = tuple(int(v or 0) for v in found)
        return out

    def roster(self, school: str) -> Roster:
        return self.store.load_roster(school)

    def stage_moves(self, school: str) -> list[StageMove]:
        e = EVENTS.c
        query = (
            select(e.case_id, e.seq, e.on, e.type, e.body, CASES.c.pupil)
            .join(CASES, CASES.c.id == e.case_id)
            .where(CASES.c.school_id == bindparam("sid"), e.type.in_(_STAGE_TYPES))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query, {"sid": _school_id(conn, school)}).all()
        out = []
        for case_id, seq, on, kind, body, pupil in rows:
            event = json.loads(body)
            stage = int(event.get("stage") or 0) if kind != "case_closed" else 0
            undoes = int(event.get("undoes") or 0) if kind == "action_undone" else 0
            out.append(StageMove(case_id, seq, on, stage, undoes, pupil))
        return out


_STAGE_TYPES = ("stage_entered", "stage_overridden", "case_closed", "action_undone")


def _school_id(conn: Connection, school: str) -> int:
    found = conn.execute(select(School.id).where(School.key == school)).scalar()
    if found is None:
        raise NotFoundError(f"no school {school!r}")
    return int(found)


def _open_case_query() -> Select[Any]:
    """Open cases (the school's id first), highest stage first, then by pupil."""
    c = CASES.c
    return (
        select(c.school_id, c.id, c.pupil, c.stage, c.state, c.opened_on, c.flow_version)
        .where(c.status == "open")
        .order_by(c.stage.desc(), c.pupil)
    )


def _school_ids(conn: Connection, schools: Sequence[str]) -> dict[int, str]:
    """The store's ids of ``schools``, to their keys; a school the store does not know raises."""
    wanted = set(schools)
    found = {int(i): str(k) for i, k in conn.execute(select(School.id, School.key)) if k in wanted}
    missing = wanted - set(found.values())
    if missing:
        raise NotFoundError(f"no school {sorted(missing)[0]!r}")
    return found


def _letter_query() -> Select[Any]:
    """Columns labelled as ``LetterView``'s fields."""
    return select(
        LETTERS.c.id,
        LETTERS.c.task_id,
        LETTERS.c.case_id,
        School.key.label("school"),
        CASES.c.pupil,
        LETTERS.c.template,
        LETTERS.c.status,
        LETTERS.c.html,
        LETTERS.c.pdf.is_not(None).label("has_pdf"),
        LETTERS.c.prepared_at,
        TASKS.c.approval.label("approval_needed"),
        LETTERS.c.approved_by,
        LETTERS.c.approved_at,
        LETTERS.c.sent_by,
        LETTERS.c.sent_at,
    ).select_from(
        LETTERS.join(CASES, CASES.c.id == LETTERS.c.case_id)
        .join(School, School.id == CASES.c.school_id)
        .join(TASKS, TASKS.c.id == LETTERS.c.task_id)
    )
