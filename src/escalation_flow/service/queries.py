"""What is due and what happened: worklists, a case's history, the service's health."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any

from escalation_flow.core.chain import broken_links
from escalation_flow.errors import InputError, NotFoundError
from escalation_flow.ports import TASK_OPEN, TIMER_PENDING, CaseTransaction, Record
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.views import (
    CaseLine,
    CaseView,
    HistoryEntry,
    SchoolStatus,
    StatusReport,
    TaskView,
    TimerView,
)


class Queries:
    """Read models for the command line, the daemon and the pages."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def tasks(
        self,
        school: str | None = None,
        role: str | None = None,
        due_by: date | None = None,
        include_universal: bool = True,
    ) -> list[TaskView]:
        """Open tasks, most overdue first, then by due date (then school, pupil, id)."""
        with self.ctx.store.read() as tx:
            ids = None
            if school is not None:
                ids = [tx.school_id(self.ctx.setup(school).school)]
            rows = tx.open_tasks(ids, role, due_by, include_universal)
        # a trust's 26,000 open tasks fall due on a few hundred days: each counted once
        now = self.ctx.now()
        late = cache(lambda school, due: self._school_days_late(school, due, now))
        views = [self._task_view(row, row.school, late=late) for row in rows]
        views.sort(key=lambda v: (-v.overdue_days, v.due, v.school, v.pupil, v.id))
        return views

    def task(self, task_id: int) -> TaskView:
        with self.ctx.store.read() as tx:
            row = tx.task_row(task_id)
            school = tx.school_key(row.school_id)
            letter = tx.letter_status_of_task(task_id)
        extra = {"letter_id": letter.id, "letter_status": letter.status} if letter else {}
        return self._task_view(row, school, **extra)

    def _task_view(
        self,
        row: Record,
        school: str,
        late: Callable[[str, date], int] | None = None,
        **extra: Any,
    ) -> TaskView:
        letter_id = extra.get("letter_id", getattr(row, "letter_id", None))
        letter_status = extra.get("letter_status", getattr(row, "letter_status", None))
        overdue = 0
        if row.status == TASK_OPEN:
            overdue = (late or self._school_days_late)(school, row.due)
        return TaskView(
            id=row.id,
            school=school,
            pupil=row.pupil,
            task=row.task,
            role=row.role,
            kind=row.kind,
            due=row.due,
            status=row.status,
            approval=row.approval,
            created_on=row.created_on,
            case_id=row.case_id,
            key=row.key,
            template=row.template,
            overdue_days=overdue,
            completed_by=row.completed_by,
            completed_at=row.completed_at,
            outcome=row.outcome,
            note=row.note,
            letter_id=letter_id,
            letter_status=letter_status,
            covers=tuple(filter(None, (getattr(row, "covers", None) or "").split(","))),
        )

    def _school_days_late(self, school: str, due: date, now: datetime | None = None) -> int:
        setup = self.ctx.setup(school)
        today = setup.local_date(now or self.ctx.now())
        if today <= due:
            return 0
        # due on a day that has passed: at least one school day late, even over a weekend
        return max(1, setup.calendar.school_days_between(due, today))

    def case_lines(self, school: str, status: str | None = None) -> list[CaseLine]:
        """Every case of a school (or those ``open``/``closed``), highest stage first."""
        setup = self.ctx.setup(school)
        with self.ctx.store.read() as tx:
            rows = tx.case_lines(tx.school_id(setup.school), status)
        return [_case_line(r) for r in rows]

    def case(self, school: str, pupil: str) -> CaseView:
        """The case row, its whole history (with the chain checked), open tasks, pending
        timers."""
        setup = self.ctx.setup(school)
        with self.ctx.store.read() as tx:
            sid = tx.school_id(setup.school)
            row = tx.case_row(sid, pupil)
            if row is None:
                raise NotFoundError(f"pupil {pupil!r} has no case at school {setup.school}")
            records = tx.history(row.id)
            task_rows = [t for t in tx.case_tasks(row.id) if t.status == TASK_OPEN]
            timer_rows = [t for t in tx.case_timers(row.id) if t.status == TIMER_PENDING]
        name = f"{setup.school}/{pupil}"
        broken = broken_links((r.link(name), r.hash) for r in records)
        return CaseView(
            school=setup.school,
            pupil=pupil,
            case_id=row.id,
            status=row.status,
            stage=row.stage,
            state=row.state,
            flow=row.flow,
            flow_version=row.flow_version,
            opened_on=row.opened_on,
            closed_on=row.closed_on,
            history=tuple(
                HistoryEntry(
                    r.seq, r.on, r.at, r.type, r.event, r.actor, r.flow_version, r.recorded_at,
                    r.hash,
                )
                for r in records
            ),
            open_tasks=tuple(self._task_view(t, setup.school) for t in task_rows),
            pending_timers=tuple(_timer_view(t, setup.school, pupil) for t in timer_rows),
            broken_chain=tuple(broken),
        )

    # -- status --------------------------------------------------------------------------------

    def status(self) -> StatusReport:
        now = self.ctx.now()
        with self.ctx.store.read() as tx:
            pending = tx.pending_timer_count()
            overdue_rows = tx.overdue_timers(now)
            schools = _schools(tx, self._current_versions())
            lapsed = tx.lapsed_task_counts()
        overdue = tuple(_timer_view(r, r.school, r.pupil) for r in overdue_rows)
        open_views = self.tasks(None, None, None, include_universal=True)
        by_role: dict[str, int] = {}
        for view in open_views:
            if view.overdue_days:
                by_role[view.role] = by_role.get(view.role, 0) + 1
        return StatusReport(
            now=now,
            pending_timers=pending,
            overdue_timers=overdue,
            schools=schools,
            overdue_tasks_by_role=dict(sorted(by_role.items())),
            open_tasks=len(open_views),
            lapsed_tasks=lapsed,
        )

    def _current_versions(self) -> dict[str, str]:
        """Each school's flow version now (a school the trust file no longer names: none)."""
        out = {}
        for school in self.ctx.schools():
            try:
                out[school] = self.ctx.setup(school).flow.version
            except InputError:  # a flow file that no longer loads: the daemon's start says why
                continue
        return out


def _case_line(r: Record) -> CaseLine:
    return CaseLine(
        r.pupil, r.status, r.stage, r.state, r.opened_on, r.closed_on, r.flow_version, r.length,
        int(r.openings),
    )  # fmt: skip


def _timer_view(row: Record, school: str, pupil: str) -> TimerView:
    return TimerView(
        id=row.id,
        school=school,
        pupil=pupil,
        case_id=row.case_id,
        key=row.key,
        timer=row.timer,
        due=row.due,
        fire_at=row.fire_at,
        status=row.status,
        rule=row.rule,
        fired_at=row.fired_at,
        late_seconds=row.late_seconds,
        claimed_by=row.claimed_by,
    )


def _schools(tx: CaseTransaction, current: dict[str, str]) -> tuple[SchoolStatus, ...]:
    earlier: dict[str, list[tuple[str, int]]] = {}
    for school, version, n in tx.open_case_versions():
        if school in current and version != current[school]:
            earlier.setdefault(school, []).append((version, n))
    return tuple(
        SchoolStatus(
            school=a.school,
            last_day=a.last_day,
            evaluated_at=a.evaluated_at,
            last_import_at=a.last_import_at,
            last_mark_day=a.last_mark_day,
            earlier_versions=tuple(earlier.get(a.school, ())),
        )
        for a in tx.school_activity()
    )
