"""Is the service ready to be relied on? Three checks, in order, each naming what is wrong:

1. ``database``: the database answers;
2. ``migrations``: its schema is the one the code needs (``adapters/store/schema.py``);
3. ``evenings``: every school's latest evaluated school day (the same store read the daemon and
   ``escalation-flow status`` use) is not behind the latest school day whose registers closed
   more than the status margin ago (``overdue_margin_minutes``, as ``status``): the daemon is
   running and keeping up.

A check after a failed one is not run (``skipped``): the database must answer before its
schema is asked about. The pages' ``/readyz`` answers with ``Readiness.body()``; the reasons a
check failed in detail go to the log, not to the unauthenticated response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from escalation_flow.adapters.store.schema import current_revision, head_revision
from escalation_flow.core.calendar import SchoolCalendar
from escalation_flow.errors import EscalationFlowError
from escalation_flow.logs import get_logger
from escalation_flow.metrics import StoreSnapshot
from escalation_flow.service import Service

DATABASE, MIGRATIONS, EVENINGS = "database", "migrations", "evenings"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: evenings: each school behind, with its last evaluated day and the day now due
    overdue: tuple[dict[str, str | None], ...] = ()
    skipped: bool = False

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "detail": self.detail}
        if self.skipped:
            out["skipped"] = True
        if self.overdue:
            out["overdue"] = list(self.overdue)
        return out


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failing(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def body(self) -> dict[str, Any]:
        """The same shape ready or not: ``ready``, ``failing`` and each check by name."""
        return {
            "ready": self.ready,
            "failing": self.failing,
            "checks": {c.name: c.body() for c in self.checks},
        }


def readiness(service: Service, margin: timedelta) -> Readiness:
    """The three checks on ``service``'s store, at the service's clock's now."""
    log = get_logger("escalation_flow.readiness")
    engine = service.store.engine
    try:
        current = current_revision(engine)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readiness.database_unreachable", reason=_first_line(exc))
        return Readiness(
            (
                Check(DATABASE, False, f"the database does not answer ({type(exc).__name__})"),
                _skipped(MIGRATIONS, DATABASE),
                _skipped(EVENINGS, DATABASE),
            )
        )
    database = Check(DATABASE, True, "the database answers")
    head = code_head()
    if current != head:
        state = "has no schema" if current is None else f"is at revision {current}"
        detail = f"the database {state}; the code needs {head}: run `escalation-flow db upgrade`"
        log.warning("readiness.schema_behind", current=current, head=head)
        return Readiness(
            (database, Check(MIGRATIONS, False, detail), _skipped(EVENINGS, MIGRATIONS))
        )
    schema = Check(MIGRATIONS, True, f"the schema is at {head}")
    return Readiness((database, schema, evenings_check(service, margin)))


@cache
def code_head() -> str | None:
    """The newest migration this code ships, read from the alembic scripts once per process:
    they do not change under a running process, and reading them costs tens of milliseconds on
    every ``/readyz`` a load balancer sends."""
    return head_revision()


def evenings_check(service: Service, margin: timedelta) -> Check:
    """Each school's latest evaluated day against the latest whose registers closed by
    ``now - margin`` (the margin the daemon has to run an evening, as ``status`` gives timers)."""
    at = service.now() - margin
    last = service.last_evaluated_days()
    overdue: list[dict[str, str | None]] = []
    for school in service.schools():
        try:
            setup = service.setup(school)
        except (
            EscalationFlowError
        ):  # its flow or calendar no longer loads: the daemon cannot run it
            overdue.append({"school": school, "last_evening": _day(last.get(school)), "due": None})
            continue
        due = last_closed_day(setup.calendar, setup.zone, setup.registers_close, at)
        done = last.get(school)
        if due is not None and (done is None or done < due):
            overdue.append(
                {
                    "school": school,
                    "last_evening": _day(done),
                    "due": due.isoformat(),
                }
            )
    if overdue:
        minutes = int(margin.total_seconds() // 60)
        get_logger("escalation_flow.readiness").warning(
            "readiness.evenings_overdue", schools=[o["school"] for o in overdue]
        )
        return Check(
            EVENINGS,
            False,
            f"{len(overdue)} school(s) not evaluated within {minutes} minutes of their registers "
            "closing: is the daemon running? (`escalation-flow status`)",
            tuple(overdue),
        )
    return Check(EVENINGS, True, "every school's evenings are evaluated")


def last_closed_day(
    calendar: SchoolCalendar, zone: ZoneInfo, close: time, at: datetime
) -> date | None:
    """The latest school day whose registers closed by ``at`` (None: before the calendar)."""
    end = calendar.index_on_or_before(at.astimezone(zone).date())
    if end >= 0 and datetime.combine(calendar.school_days[end], close, tzinfo=zone) > at:
        end -= 1
    return calendar.school_days[end] if end >= 0 else None


def store_snapshot(service: Service) -> StoreSnapshot:
    """The gauges a scrape reads: the store's status reads (as ``escalation-flow status``)."""
    now = service.now()
    with service.store.read() as tx:
        pending = tx.pending_timer_count()
        overdue = len(tx.overdue_timers(now))
        last = tx.last_evaluated_days()
    return StoreSnapshot(pending, overdue, dict(last))


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _skipped(name: str, because: str) -> Check:
    return Check(name, False, f"not checked: the {because} check failed", skipped=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
