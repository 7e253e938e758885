"""A school day's evaluation, and firing the timers that came due: the engine driven from the store.

A school day is run as the backtest runs it (timers due by that day, then the evening's
screening of every pupil), on the register as known now; everything it decides is written in
one transaction with the ``school_days`` row, so a day is evaluated once (``force``: again).

Each due timer is claimed and fired in a transaction of its own: a conditional ``UPDATE`` flips
it from pending to fired, and only the worker whose update hit the row evaluates it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, func, literal, select, update

from escalation_flow.adapters.store.case_models import (
    CLOSED,
    ENGINE,
    OPEN,
    TIMER_FIRED,
    TIMER_PENDING,
)
from escalation_flow.adapters.store.case_writer import (
    CaseChange,
    HistoryWriter,
    Written,
    insert_universal_tasks,
    lapse_universal_tasks,
    record_school_day,
)
from escalation_flow.adapters.store.cases import (
    CASES,
    SCHOOLS,
    TIMERS,
    StoredCase,
    evaluated,
    last_evaluation,
    load_case,
    load_cases,
    pupils_with_cases,
    school_id,
)
from escalation_flow.adapters.store.marks_reader import RegisterReader
from escalation_flow.adapters.store.models import UtcDateTime
from escalation_flow.core.case import Case
from escalation_flow.core.decisions import Stimulus
from escalation_flow.core.engine import Moment, due_date, step
from escalation_flow.core.marks import to_micros
from escalation_flow.core.school_day import DayEnv, DayInputs, SchoolBook
from escalation_flow.core.school_day import run_day as run_book_day
from escalation_flow.service.events import log_written
from escalation_flow.service.letters import Prepared, prepare_letters
from escalation_flow.service.register import Register, SchoolSetup
from escalation_flow.service.versions import VersionBooks, version_books
from escalation_flow.service.views import DayReport, FiredTimer

if TYPE_CHECKING:
    from escalation_flow.service.service import Service


def run_trust_day(service: Service, day: date, *, force: bool) -> list[DayReport]:
    """Every school of the trust; the helper reads the next registers while one is evaluated."""
    service.ensure_schools()
    now = service.now()
    with RegisterReader(service.store) as reader:
        with service.store.engine.connect() as conn:
            for school in service.schools():
                setup = service.setup(school)
                if not setup.calendar.is_school_day(day):
                    continue  # run_day says why
                sid = school_id(conn, school)
                if evaluated(conn, sid, day) is not None and not force:
                    continue
                last = last_evaluation(conn, sid)
                asked = (last.evaluated_at, now, day) if last else None
                reader.ahead(school, setup.calendar, now, asked)
        return [run_day(service, s, day, force=force, reader=reader) for s in service.schools()]


def run_day(
    service: Service,
    school: str,
    day: date,
    *,
    force: bool,
    auto_complete: bool = False,
    reader: RegisterReader | None = None,
) -> DayReport:
    setup = service.setup(school)
    school = setup.school
    index = setup.calendar.day_index(day)  # CalendarError: not a school day
    service.ensure_schools()
    now = service.now()
    with service.store.engine.connect() as conn:
        sid = school_id(conn, school)
        done = evaluated(conn, sid, day)
        if done is not None and not force:
            return DayReport(school, day, skipped=True, evaluated_at=done.evaluated_at)
        last = last_evaluation(conn, sid)
    asked = (last.evaluated_at, now, day) if last else None
    with nullcontext(reader) if reader else RegisterReader(service.store) as registers:
        read = registers.read(school, setup.calendar, now, asked)
    register = Register.load(service.store, setup, now, index, read)
    positions = {p: i for i, p in enumerate(register.pupils)}
    amended = sorted(positions[p] for p in read.amended if p in positions)
    inputs = DayInputs(
        day=index,
        facts=register.facts(index),
        counts=register.counts,
        previous=register.facts(index - 1) if index > 0 else None,
        amended=amended,
        auto_complete=auto_complete,
    )
    with service.store.engine.begin() as conn:
        stored, books = _evaluate(service, conn, setup, register, sid, inputs)
        changes, written, letters = _write_books(
            service, conn, register, sid, (index, now), stored, books
        )
        kinds = {u.task.id: u.task.kind.value for u in setup.flow.definition.universal}
        universal = insert_universal_tasks(
            conn, sid, books.current.book.universal_tasks, kinds, now
        )
        lapsed = lapse_universal_tasks(conn, sid, _lapse_days(setup), day)
        record_school_day(conn, sid, day, now, written.records, service.worker)
    counts = log_written(service.log, school, changes, written, letters)
    service.log.info(
        "day.evaluated",
        school=school,
        day=day.isoformat(),
        decisions=written.records,
        universal_tasks=universal,
        universal_lapsed=lapsed,
        forced=done is not None,
        worker=service.worker,
    )
    return DayReport(
        school,
        day,
        skipped=False,
        decisions=written.records,
        universal_tasks=universal,
        universal_lapsed=lapsed,
        evaluated_at=now,
        letters_prepared=sum(1 for p in letters if p.letter_id is not None),
        **counts,
    )


def _write_books(
    service: Service,
    conn: Connection,
    register: Register,
    sid: int,
    when: tuple[int, datetime],
    stored: dict[str, StoredCase],
    books: VersionBooks,
) -> tuple[list[CaseChange], Written, list[Prepared]]:
    """Each book's decisions written under its flow version, with the letters they prepare
    (``when``: the school day and the instant written)."""
    day, now = when
    school = books.current.setup.school
    changes: list[CaseChange] = []
    written = Written({}, [], 0, {})
    letters: list[Prepared] = []
    for vb in books.books:
        book = vb.book
        group = [
            CaseChange(
                stored.get(book.pupils[p]) or StoredCase(None, Case(school, book.pupils[p])),
                decisions,
                book.cases[p],
                ENGINE,
            )
            for p, decisions in sorted(book.history.items())
        ]
        out = _writer(service, conn, vb.setup, sid, now).write(group)
        facts = register.facts(day, vb.setup.flow)
        letters += prepare_letters(conn, vb.setup, register, facts, out.tasks, now)
        changes += group
        written = _together(written, out)
    return changes, written, letters


def _lapse_days(setup: SchoolSetup) -> dict[str, Callable[[date], date]]:
    """For each universal task that lapses: its due date to the day it lapses."""
    out: dict[str, Callable[[date], date]] = {}
    for action in setup.flow.definition.universal:
        after = action.task.lapses_after
        if after is not None:
            out[action.task.id] = partial(due_date, setup.calendar, after=after, for_timer=True)
    return out


def _writer(
    service: Service, conn: Connection, setup: SchoolSetup, sid: int, now: datetime
) -> HistoryWriter:
    service.keep_flow_version(conn, setup.flow, now)
    return HistoryWriter(
        conn,
        school_id=sid,
        school=setup.school,
        flow=setup.flow.id,
        flow_version=setup.flow.version,
        now=now,
        worker=service.worker,
    )


def _evaluate(
    service: Service,
    conn: Connection,
    setup: SchoolSetup,
    register: Register,
    sid: int,
    inputs: DayInputs,
) -> tuple[dict[str, StoredCase], VersionBooks]:
    """The day run over the school's cases, each under its flow version. Closed cases are read
    only for the pupils the evening's screen sees escalating (only escalation re-opens a case,
    and a trust holds many more closed cases than open ones); should the day decide for another,
    it runs again with every case read."""
    school = setup.school
    stored = load_cases(conn, sid, school, status=OPEN)
    closed = pupils_with_cases(conn, sid, CLOSED)
    books = version_books(service, setup, register.pupils, stored, conn)
    reopening = closed & _escalating_pupils(books.current.book, inputs)
    stored.update(load_cases(conn, sid, school, reopening))
    for pupil in reopening:
        p = books.current.book.pupil_index(pupil)
        if p is not None:
            books.place(p, stored[pupil].case)
    _run_books(books, register, inputs)
    decided = {vb.book.pupils[p] for vb in books.books for p in vb.book.history}
    if decided & (closed - reopening):
        stored = load_cases(conn, sid, school)
        books = version_books(service, setup, register.pupils, stored, conn)
        _run_books(books, register, inputs)
    return stored, books


def _run_books(books: VersionBooks, register: Register, inputs: DayInputs) -> None:
    """The day in each book, on the facts as its flow version counts them."""
    for vb in books.books:
        flow = vb.setup.flow
        day = inputs.day
        facts = register.facts(day, flow)
        previous = register.facts(day - 1, flow) if inputs.previous is not None else None
        run_book_day(vb.book, dataclasses.replace(inputs, facts=facts, previous=previous))


def _escalating_pupils(book: SchoolBook, inputs: DayInputs) -> set[str]:
    """Pupils for whom some stage's entry criteria hold tonight (the evening's screen)."""
    env = DayEnv(book, inputs.facts, inputs.counts)
    flow = book.ctx.flow
    hit = np.zeros(len(book.pupils), dtype=bool)
    for stage in flow.escalating_stages:
        hit |= np.asarray(flow.entry[stage.number].mask(env), dtype=bool)
    return {book.pupils[int(p)] for p in np.flatnonzero(hit)}


def _together(a: Written, b: Written) -> Written:
    return Written(
        {**a.case_ids, **b.case_ids}, [*a.tasks, *b.tasks], a.records + b.records,
        {**a.heads, **b.heads},
    )  # fmt: skip


# -- timers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    id: int
    case_id: int
    key: str
    fire_at: datetime
    school: str
    school_id: int
    pupil: str


def fire_due_timers(
    service: Service, now: datetime, stop: Callable[[], bool] | None = None
) -> list[FiredTimer]:
    due = _due_timers(service, now)
    fired: list[FiredTimer] = []
    by_school: dict[str, list[_Due]] = {}
    for timer in due:
        by_school.setdefault(timer.school, []).append(timer)
    with RegisterReader(service.store) as reader:
        if len(by_school) > 1:  # the next school's register is read while one school's fire
            for school in by_school:
                reader.ahead(school, service.setup(school).calendar, now)
        for school, timers in by_school.items():
            if stop is not None and stop():
                break
            fired += _fire_school(service, school, timers, now, stop, reader)
    return fired


def _due_timers(service: Service, now: datetime) -> list[_Due]:
    t, c, s = TIMERS.c, CASES.c, SCHOOLS.c
    query = (
        select(t.id, t.case_id, t.key, t.fire_at, s.key.label("school"), s.id.label("sid"), c.pupil)
        .join(CASES, c.id == t.case_id)
        .join(SCHOOLS, s.id == t.school_id)
        .where(t.status == TIMER_PENDING, t.fire_at <= now)
        .order_by(t.fire_at, s.key, c.pupil, t.key)
    )
    with service.store.engine.connect() as conn:
        return [
            _Due(r.id, r.case_id, r.key, r.fire_at, r.school, r.sid, r.pupil)
            for r in conn.execute(query)
        ]


def _fire_school(
    service: Service,
    school: str,
    timers: Sequence[_Due],
    now: datetime,
    stop: Callable[[], bool] | None = None,
    reader: RegisterReader | None = None,
) -> list[FiredTimer]:
    """One school's due timers, in (fire_at, pupil, key) order, each in its own transaction;
    ``stop()`` is asked before each (a daemon told to stop finishes the timer in hand only)."""
    setup = service.setup(school)
    on = setup.action_day(now)
    read = reader.read(school, setup.calendar, now) if reader else None
    register = Register.load(service.store, setup, now, on, read)
    sid = timers[0].school_id
    with service.store.engine.connect() as conn:
        held = load_cases(conn, sid, school, {t.pupil for t in timers})
        books = version_books(service, setup, register.pupils, held, conn)
    envs: dict[str, DayEnv] = {}
    out: list[FiredTimer] = []
    for timer in timers:
        if stop is not None and stop():
            break
        with service.store.engine.begin() as conn:
            length = claim_timer(conn, timer.id, now, service.worker)
            if length is None:
                continue  # another worker has it
            stored = _current(conn, sid, school, held.get(timer.pupil), timer.pupil, length)
            case = stored.case
            p = books.current.book.pupil_index(timer.pupil)
            armed = next((a for a in case.timers if a.key == timer.key), None)
            if p is None or armed is None:
                service.log.warning(
                    "timer.not_armed", school=school, case_id=timer.case_id, timer_id=timer.id,
                    timer=timer.key,
                )  # fmt: skip
                continue
            vb = books.place(p, case)
            at = vb.setup
            facts = register.morning_facts(on, at.flow)
            env = envs.get(vb.version) or envs.setdefault(
                vb.version, DayEnv(vb.book, facts, register.counts)
            )
            review_from = at.calendar.index_on_or_before(armed.armed_on)
            stimulus = Stimulus("timer", timer.key)
            moment = Moment(at.calendar.school_days[on], now)
            decisions, after = step(at.ctx, case, env.pupil(p, case, review_from), moment, stimulus)
            change = CaseChange(stored, decisions, after, ENGINE)
            written = _writer(service, conn, at, sid, now).write([change], claimed_timer=timer.key)
            letters = prepare_letters(conn, at, register, facts, written.tasks, now)
        held[timer.pupil] = StoredCase(
            stored.id, after, written.heads.get(timer.pupil, stored.head_hash)
        )
        books.place(p, after)
        late = max(0, int((now - timer.fire_at).total_seconds()))
        log_written(
            service.log, school, [change], written, letters, timer_id=timer.id, late_seconds=late
        )
        out.append(
            FiredTimer(
                timer.id, school, timer.pupil, timer.case_id, timer.key, armed.timer,
                timer.fire_at, now, late, tuple(decisions),
            )
        )  # fmt: skip
    return out


def claim_timer(conn: Connection, timer_id: int, now: datetime, worker: str) -> int | None:
    """Flip one timer from pending to fired for ``worker``, in one statement: the length of its
    case's history then, or None when another worker has it (on PostgreSQL a row another worker
    holds is skipped, not waited for)."""
    t, c = TIMERS.c, CASES.c
    still_pending = t.status == TIMER_PENDING
    if conn.dialect.name == "postgresql":
        mine = select(t.id).where(t.id == timer_id, still_pending).with_for_update(skip_locked=True)
        still_pending = t.id.in_(mine.scalar_subquery())
    claim = update(TIMERS).values(
        status=TIMER_FIRED, fired_at=now, late_seconds=_late(conn, now), claimed_by=worker
    )
    if conn.dialect.name == "sqlite":
        # SQLite's RETURNING sees only the updated table; a second query costs nothing there.
        case_id = conn.execute(claim.where(t.id == timer_id, still_pending).returning(t.case_id))
        found = case_id.scalar()
        if found is None:
            return None
        return int(conn.execute(select(c.length).where(c.id == found)).scalar_one())
    statement = claim.where(t.id == timer_id, still_pending, c.id == t.case_id).returning(c.length)
    length = conn.execute(statement).scalar()
    return None if length is None else int(length)


def _late(conn: Connection, now: datetime) -> Any:
    """Whole seconds from the timer's ``fire_at`` to ``now``, in SQL."""
    fire_at = TIMERS.c.fire_at
    if conn.dialect.name == "sqlite":  # UtcDateTime is integer microseconds there
        return func.max(0, (literal(to_micros(now)) - fire_at) // 1_000_000)
    elapsed = func.extract("epoch", literal(now, UtcDateTime()) - fire_at)
    return func.greatest(0, func.floor(elapsed))


def _current(
    conn: Connection, sid: int, school: str, held: StoredCase | None, pupil: str, length: int
) -> StoredCase:
    """The case as preloaded, unless its history has grown since (then read again)."""
    if held is not None and held.length == length:
        return held
    return load_case(conn, sid, school, pupil)
