"""A school day's evaluation, and firing the timers that came due: the engine driven from the store.

A school day is run as the backtest runs it (timers due by that day, then the evening's
screening of every pupil), on the register as known now; everything it decides is written in
one transaction with the ``school_days`` row, so a day is evaluated once (``force``: again).

Each due timer is claimed and fired in a transaction of its own: the store flips it from pending
to fired (``CaseTransaction.claim_timer``), and only the worker whose claim hit it evaluates it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import date, datetime
from functools import partial

import numpy as np

from escalation_flow.core import evaluation
from escalation_flow.core.case import Case
from escalation_flow.core.decisions import Stimulus
from escalation_flow.core.definition import Duration
from escalation_flow.core.engine import Moment, due_date
from escalation_flow.core.school_day import DayEnv, DayInputs, SchoolCases, UniversalTask
from escalation_flow.core.school_day import run_day as run_book_day
from escalation_flow.ports import (
    CLOSED,
    ENGINE,
    OPEN,
    CaseChange,
    CaseTransaction,
    DueTimer,
    HistoryWriting,
    RegisterSource,
    StoredCase,
    Written,
)
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.events import log_written
from escalation_flow.service.letter_preparation import Prepared, prepare_letters
from escalation_flow.service.register import RegisterAsKnown, SchoolSetup
from escalation_flow.service.versions import (
    CasesByVersion,
    cases_by_version,
    version_of,
    versions_of,
)
from escalation_flow.service.views import DayReport, FiredTimer


class SchoolDays:
    """School days and timers: evaluate a day, fire what came due, say what a scheduler
    should mirror."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def run_trust_day(self, day: date, *, force: bool = False) -> list[DayReport]:
        """``run_day`` for every school of the trust for which ``day`` is a school day, in order
        of id; the helper reads the next registers while one is evaluated."""
        ctx = self.ctx
        ctx.ensure_schools()
        now = ctx.now()
        with ctx.store.register_reader() as reader:
            with ctx.store.read() as tx:
                for school in ctx.schools():
                    setup = ctx.setup(school)
                    if not setup.calendar.is_school_day(day):
                        continue  # run_day says why
                    sid = tx.school_id(school)
                    if tx.evaluated(sid, day) is not None and not force:
                        continue
                    last = tx.last_evaluation(sid)
                    asked = (last.evaluated_at, now, day) if last else None
                    reader.ahead(school, setup.calendar, now, asked)
            return [
                self.run_day(s, day, force=force, reader=reader)
                for s in ctx.schools()
                if ctx.setup(s).calendar.is_school_day(day)  # each school keeps its own calendar
            ]

    def run_day(
        self,
        school: str,
        day: date,
        *,
        force: bool = False,
        auto_complete: bool = False,
        reader: RegisterSource | None = None,
    ) -> DayReport:
        """Evaluate one school day of one school (idempotent: again is a no-op unless ``force``).
        ``auto_complete`` (demos, rehearsals): every task due by then is done by "auto" with its
        default outcome, as the backtest's ``--auto-complete-actions``."""
        ctx = self.ctx
        setup = ctx.setup(school)
        school = setup.school
        index = setup.calendar.day_index(day)  # CalendarError: not a school day
        ctx.ensure_schools()
        now = ctx.now()
        with ctx.store.read() as tx:
            sid = tx.school_id(school)
            done = tx.evaluated(sid, day)
            if done is not None and not force:
                return DayReport(school, day, skipped=True, evaluated_at=done.evaluated_at)
            last = tx.last_evaluation(sid)
            latest = tx.last_evaluated_days().get(school)
        if latest is not None and latest > day:
            # cases already carry that later day's decisions: an earlier evening now, forced or
            # not, would re-apply an old register to today's cases and record a past that runs
            # backwards (a daemon catching up behind a hand run; a --force on an old day)
            ctx.log.warning("day.not_in_order", school=school, day=str(day), after=str(latest))
            return DayReport(school, day, skipped=True, after=latest)
        asked = (last.evaluated_at, now, day) if last else None
        with nullcontext(reader) if reader else ctx.store.register_reader() as registers:
            read = registers.read(school, setup.calendar, now, asked)
        register = RegisterAsKnown.load(ctx.store, setup, now, index, read)
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
        with ctx.store.begin() as tx:
            stored, books = self._evaluate(tx, setup, register, sid, inputs)
            changes, written, letters = self._write_books(
                tx, register, sid, (index, now), stored, books
            )
            definition = setup.flow.definition
            kinds = {u.task.id: u.task.kind.value for u in definition.universal}
            kinds |= {duty.id: duty.kind.value for duty in definition.duties}
            book = books.current.book
            duties = [
                UniversalTask(u.on, "", u.task, u.role, u.due, u.covers) for u in book.duties
            ]  # one task per school and role: no pupil, the pupils it covers listed
            universal = tx.insert_universal_tasks(sid, [*book.universal_tasks, *duties], kinds, now)
            lapsed = tx.lapse_universal_tasks(sid, _lapse_days(setup), day)
            tx.record_school_day(sid, day, now, written.records, ctx.worker)
        counts = log_written(ctx.log, school, changes, written, letters)
        ctx.log.info(
            "day.evaluated",
            school=school,
            day=day.isoformat(),
            decisions=written.records,
            universal_tasks=universal,
            universal_lapsed=lapsed,
            forced=done is not None,
            worker=ctx.worker,
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
            cases_opened=counts["cases_opened"],
            stage_changes=counts["stage_changes"],
            cases_closed=counts["cases_closed"],
            tasks_created=counts["tasks_created"],
            timers_fired=counts["timers_fired"],
        )

    def _write_books(
        self,
        tx: CaseTransaction,
        register: RegisterAsKnown,
        sid: int,
        when: tuple[int, datetime],
        stored: dict[str, StoredCase],
        books: CasesByVersion,
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
            out = self._writer(tx, vb.setup, sid, now).write(group)
            facts = register.facts(day, vb.setup.flow)
            letters += prepare_letters(tx, vb.setup, register, facts, out.tasks, now)
            changes += group
            written = _together(written, out)
        return changes, written, letters

    def _writer(
        self, tx: CaseTransaction, setup: SchoolSetup, sid: int, now: datetime
    ) -> HistoryWriting:
        self.ctx.keep_flow_version(tx, setup.flow, now)
        return tx.history_writer(
            school_id=sid,
            school=setup.school,
            flow=setup.flow.id,
            flow_version=setup.flow.version,
            now=now,
            worker=self.ctx.worker,
        )

    def _evaluate(
        self,
        tx: CaseTransaction,
        setup: SchoolSetup,
        register: RegisterAsKnown,
        sid: int,
        inputs: DayInputs,
    ) -> tuple[dict[str, StoredCase], CasesByVersion]:
        """The day run over the school's cases, each under its flow version. Closed cases are
        read only for the pupils the evening's screen sees escalating (only escalation re-opens
        a case, and a trust holds many more closed cases than open ones); should the day decide
        for another, it runs again with every case read. Every flow version the cases run under
        is loaded before the day runs (``_books``)."""
        school = setup.school
        stored = tx.load_cases(sid, school, status=OPEN)
        closed = tx.pupils_with_cases(sid, CLOSED)
        books = self._books(tx, setup, register.pupils, stored)
        reopening = closed & _escalating_pupils(books.current.book, inputs)
        stored.update(tx.load_cases(sid, school, reopening))
        for pupil in reopening:
            p = books.current.book.pupil_index(pupil)
            if p is not None:
                books.place(p, stored[pupil].case)
        _run_books(books, register, inputs)
        decided = {vb.book.pupils[p] for vb in books.books for p in vb.book.history}
        if decided & (closed - reopening):
            stored = tx.load_cases(sid, school)
            books = self._books(tx, setup, register.pupils, stored)
            _run_books(books, register, inputs)
        return stored, books

    def _books(
        self,
        tx: CaseTransaction,
        setup: SchoolSetup,
        pupils: tuple[str, ...],
        stored: dict[str, StoredCase],
    ) -> CasesByVersion:
        """The school's books, with the set-up of every version the stored cases run under read
        first (from the store's ``flow_versions`` when not the school's current file)."""
        known = set(pupils)
        running = [held for pupil, held in stored.items() if pupil in known]
        setups = {
            v: self.ctx.setup_at(setup.school, v, tx)
            for v in sorted(versions_of(running, setup.flow.version))
        }
        return cases_by_version(setup, setups, pupils, stored)

    # -- timers --------------------------------------------------------------------------------

    def fire_due_timers(
        self, now: datetime | None = None, *, stop: Callable[[], bool] | None = None
    ) -> list[FiredTimer]:
        """Claim and fire every pending timer with ``fire_at <= now`` (default: the clock);
        ``stop()`` is asked before each timer (a daemon stopping finishes the one in hand)."""
        ctx = self.ctx
        now = now or ctx.now()
        with ctx.store.read() as tx:
            due = tx.due_timers(now)
        fired: list[FiredTimer] = []
        by_school: dict[str, list[DueTimer]] = {}
        for timer in due:
            by_school.setdefault(timer.school, []).append(timer)
        with ctx.store.register_reader() as reader:
            if len(by_school) > 1:  # the next school's register is read while one school's fire
                for school in by_school:
                    reader.ahead(school, ctx.setup(school).calendar, now)
            for school, timers in by_school.items():
                if stop is not None and stop():
                    break
                fired += self._fire_school(school, timers, now, stop, reader)
        return fired

    def _fire_school(
        self,
        school: str,
        timers: Sequence[DueTimer],
        now: datetime,
        stop: Callable[[], bool] | None = None,
        reader: RegisterSource | None = None,
    ) -> list[FiredTimer]:
        """One school's due timers, in (fire_at, pupil, key) order, each in its own transaction;
        ``stop()`` is asked before each (a daemon told to stop finishes the timer in hand only)."""
        ctx = self.ctx
        setup = ctx.setup(school)
        on = setup.action_day(now)
        read = reader.read(school, setup.calendar, now) if reader else None
        register = RegisterAsKnown.load(ctx.store, setup, now, on, read)
        sid = timers[0].school_id
        with ctx.store.read() as tx:
            held = tx.load_cases(sid, school, {t.pupil for t in timers})
            books = self._books(tx, setup, register.pupils, held)
        envs: dict[str, DayEnv] = {}
        out: list[FiredTimer] = []
        for timer in timers:
            if stop is not None and stop():
                break
            with ctx.store.begin() as tx:
                length = tx.claim_timer(timer.id, now, ctx.worker)
                if length is None:
                    continue  # another worker has it
                stored = _current(tx, sid, school, held.get(timer.pupil), timer.pupil, length)
                case = stored.case
                p = books.current.book.pupil_index(timer.pupil)
                armed = next((a for a in case.timers if a.key == timer.key), None)
                if p is None or armed is None:
                    ctx.log.warning(
                        "timer.not_armed", school=school, case_id=timer.case_id,
                        timer_id=timer.id, timer=timer.key,
                    )  # fmt: skip
                    continue
                self._ensure_version(tx, books, case)
                vb = books.place(p, case)
                at = vb.setup
                facts = register.morning_facts(on, at.flow)
                env = envs.get(vb.version) or envs.setdefault(
                    vb.version, DayEnv(vb.book, facts, register.counts)
                )
                stimulus = Stimulus("timer", timer.key)
                moment = Moment(at.calendar.school_days[on], now)
                decisions, after = evaluation.evaluate(at.ctx, case, env, p, stimulus, moment)
                change = CaseChange(stored, decisions, after, ENGINE)
                written = self._writer(tx, at, sid, now).write([change], claimed_timer=timer.key)
                letters = prepare_letters(tx, at, register, facts, written.tasks, now)
            held[timer.pupil] = StoredCase(
                stored.id, after, written.heads.get(timer.pupil, stored.head_hash)
            )
            books.place(p, after)
            late = max(0, int((now - timer.fire_at).total_seconds()))
            log_written(
                ctx.log, school, [change], written, letters, timer_id=timer.id, late_seconds=late
            )
            out.append(
                FiredTimer(
                    timer.id, school, timer.pupil, timer.case_id, timer.key, armed.timer,
                    timer.fire_at, now, late, tuple(decisions),
                )
            )  # fmt: skip
        return out

    def _ensure_version(self, tx: CaseTransaction, books: CasesByVersion, case: Case) -> None:
        """A case read again (its history grew since the burst began) may have moved to a
        version not loaded yet: load it before the timer is evaluated."""
        version = version_of(case, books.current.version)
        if not books.has(version):
            books.add(self.ctx.setup_at(books.current.setup.school, version, tx))

    def pending_fire_times(
        self, after: datetime | None = None, limit: int = 1000
    ) -> list[datetime]:
        """Distinct instants pending timers fire at, earliest first (the scheduler mirrors
        them)."""
        with self.ctx.store.read() as tx:
            return tx.pending_fire_times(after, limit)

    def last_evaluated_days(self) -> dict[str, date]:
        """Each school's latest evaluated school day (absent: never evaluated)."""
        with self.ctx.store.read() as tx:
            return tx.last_evaluated_days()


def _lapse_days(setup: SchoolSetup) -> dict[str, Callable[[date], date]]:
    """For each universal task that lapses: its due date to the day it lapses."""
    out: dict[str, Callable[[date], date]] = {}
    for action in setup.flow.definition.universal:
        after = action.task.lapses_after
        if after is not None:
            out[action.task.id] = partial(due_date, setup.calendar, after=after, for_timer=True)
    for duty in setup.flow.definition.duties:  # a duty's check lapses when the next one is made
        after = Duration(school_days=1) if duty.every == "daily" else Duration(school_weeks=1)
        out[duty.id] = partial(due_date, setup.calendar, after=after, for_timer=True)
    return out


def _run_books(books: CasesByVersion, register: RegisterAsKnown, inputs: DayInputs) -> None:
    """The day in each book, on the facts as its flow version counts them."""
    for vb in books.books:
        flow = vb.setup.flow
        day = inputs.day
        facts = register.facts(day, flow)
        previous = register.facts(day - 1, flow) if inputs.previous is not None else None
        run_book_day(vb.book, dataclasses.replace(inputs, facts=facts, previous=previous))


def _escalating_pupils(book: SchoolCases, inputs: DayInputs) -> set[str]:
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


def _current(
    tx: CaseTransaction, sid: int, school: str, held: StoredCase | None, pupil: str, length: int
) -> StoredCase:
    """The case as preloaded, unless its history has grown since (then read again)."""
    if held is not None and held.length == length:
        return held
    return tx.load_case(sid, school, pupil)
