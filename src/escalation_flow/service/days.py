"""A school day's evaluation, and firing the timers that came due: the engine driven from the store.

A school day is run as the backtest runs it (timers due by that day, then the evening's
screening of every pupil), on the register as known now; everything it decides is written in
one transaction with the ``school_days`` row, so a day is evaluated once (``force``: again).

Due timers are claimed and fired a batch per transaction (``service/timer_firing``): the store
flips them from pending to fired (``CaseTransaction.claim_timers``), and only the worker whose
claim hit a timer evaluates it.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from functools import partial

import numpy as np

from escalation_flow.core.case import Case
from escalation_flow.core.definition import Duration
from escalation_flow.core.engine import due_date
from escalation_flow.core.school_day import DayEnv, DayInputs, SchoolCases, UniversalTask
from escalation_flow.core.school_day import run_day as run_book_day
from escalation_flow.core.statutory import STATUTORY_TASKS
from escalation_flow.ports import (
    CLOSED,
    ENGINE,
    OPEN,
    Amended,
    CaseChange,
    CaseTransaction,
    RegisterSource,
    SchoolDayState,
    StoredCase,
    Written,
)
from escalation_flow.service.books import history_writer, school_books
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.events import log_written
from escalation_flow.service.family_evenings import evening_left, family_at
from escalation_flow.service.letter_preparation import Prepared, prepare_letters
from escalation_flow.service.register import RegisterAsKnown, SchoolSetup
from escalation_flow.service.school_figures import SchoolFiguresDesk
from escalation_flow.service.timer_firing import SchoolGuard, TimerFiring
from escalation_flow.service.versions import (
    CasesByVersion,
)
from escalation_flow.service.views import DayReport, FiredTimer


class SchoolDays:
    """School days and timers: evaluate a day, fire what came due, say what a scheduler
    should mirror."""

    def __init__(self, ctx: ServiceContext, figures: SchoolFiguresDesk | None = None) -> None:
        self.ctx = ctx
        # the dashboards' headline figures, kept from the register each evening reads anyway
        self.figures = figures

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
                    state = tx.school_day(school, day)
                    if state.evaluated_at is not None and not force:
                        continue
                    reader.ahead(school, setup.calendar, now, _amended_since(state, now, day))
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
        with _collecting_only_what_the_evening_makes():
            return self._run_day(school, day, force, auto_complete, reader)

    def _run_day(
        self,
        school: str,
        day: date,
        force: bool,
        auto_complete: bool,
        reader: RegisterSource | None,
    ) -> DayReport:
        ctx = self.ctx
        setup = ctx.setup(school)
        school = setup.school
        index = setup.calendar.day_index(day)  # CalendarError: not a school day
        ctx.ensure_schools()
        now = ctx.now()
        with ctx.store.read() as tx:
            state = tx.school_day(school, day)  # one round trip for the four questions
        sid, done, latest = state.school_id, state.evaluated_at, state.latest_day
        if done is not None and not force:
            return DayReport(school, day, skipped=True, evaluated_at=done)
        if latest is not None and latest > day:
            # cases already carry that later day's decisions: an earlier evening now, forced or
            # not, would re-apply an old register to today's cases and record a past that runs
            # backwards (a daemon catching up behind a hand run; a --force on an old day)
            ctx.log.warning("day.not_in_order", school=school, day=str(day), after=str(latest))
            return DayReport(school, day, skipped=True, after=latest)
        asked = _amended_since(state, now, day)
        stamp = self.figures.import_stamp() if self.figures else 0  # before the register's read
        with nullcontext(reader) if reader else ctx.store.register_reader() as registers:
            read = registers.read(school, setup.calendar, now, asked)
        contacts = ctx.store.contact_versions()  # once: the notices' facts and the family's
        register = RegisterAsKnown.load(ctx.store, setup, now, index, read, contacts)
        with ctx.store.read() as tx:
            family = family_at(ctx, tx, setup, register.pupils, index, now, contacts)
            before = (
                family_at(ctx, tx, setup, register.pupils, index - 1, now, contacts)
                if index
                else None
            )  # has_social_worker the day before: the statutory task's run of absence
        positions = {p: i for i, p in enumerate(register.pupils)}
        amended = sorted(positions[p] for p in read.amended if p in positions)
        inputs = DayInputs(
            day=index,
            facts=register.facts(index),
            counts=register.counts,
            previous=register.facts(index - 1) if index > 0 else None,
            amended=amended,
            auto_complete=auto_complete,
            family=family,
            family_before=before,
        )
        with ctx.store.begin() as tx:
            stored, books = self._evaluate(tx, setup, register, sid, inputs)
            changes, written, letters = self._write_books(
                tx, register, sid, (index, now), stored, books
            )
            definition = setup.flow.definition
            kinds = {u.task.id: u.task.kind.value for u in definition.universal}
            kinds |= {duty.id: duty.kind.value for duty in definition.duties}
            kinds |= {t.id: t.kind.value for t in STATUTORY_TASKS.values()}
            book = books.current.book
            duties = [
                UniversalTask(u.on, "", u.task, u.role, u.due, u.covers) for u in book.duties
            ]  # one task per school and role: no pupil, the pupils it covers listed
            universal = tx.insert_universal_tasks(sid, [*book.universal_tasks, *duties], kinds, now)
            lapsed = tx.lapse_universal_tasks(sid, _lapse_days(setup), day)
            kept = tx.record_family_evening(sid, day, now, evening_left(books, inputs.facts))
            tx.record_school_day(sid, day, now, written.records, ctx.worker)
        if self.figures is not None:
            self._keep_figures(register, index, stamp)
        counts = log_written(ctx.log, school, changes, written, letters)
        ctx.log.info(
            "day.evaluated",
            school=school,
            day=day.isoformat(),
            decisions=written.records,
            universal_tasks=universal,
            universal_lapsed=lapsed,
            forced=done is not None,
            family_evening_kept=kept,
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

    def _keep_figures(self, register: RegisterAsKnown, index: int, stamp: int) -> None:
        assert self.figures is not None
        try:
            self.figures.keep_evening(register, index, stamp)
        except Exception as exc:
            # derived figures the pages count again when missing: never the evening's failure
            self.ctx.log.warning(
                "school_figures.not_kept", school=register.setup.school, error=repr(exc)
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
            out = history_writer(self.ctx, tx, vb.setup, sid, now).write(group)
            facts = register.facts(day, vb.setup.flow)
            letters += prepare_letters(tx, vb.setup, register, facts, out.tasks, now)
            changes += group
            written = _together(written, out)
        return changes, written, letters

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
        if reopening:  # most evenings re-open none: no statement to find no rows
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
        return school_books(self.ctx, tx, setup, pupils, stored)

    # -- timers --------------------------------------------------------------------------------

    def fire_due_timers(
        self,
        now: datetime | None = None,
        *,
        stop: Callable[[], bool] | None = None,
        school_guard: SchoolGuard | None = None,
    ) -> list[FiredTimer]:
        """Claim and fire every pending timer with ``fire_at <= now`` (default: the clock), a
        batch per transaction (``TimerFiring``); ``stop()`` is asked before each batch;
        ``school_guard``: a school's timers only while it yields True (``TimerFiring``)."""
        return TimerFiring(self.ctx).fire_due_timers(now, stop=stop, school_guard=school_guard)

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


@contextmanager
def _collecting_only_what_the_evening_makes() -> Iterator[None]:
    """The cycle collector's full passes leave out what the process held before the evening.

    An evening allocates hundreds of thousands of objects, so the collector runs a few full
    passes during it, and each walks everything the process holds: a daemon's flows, its kept
    cases and registers (over a tenth of the trust's evening on SQLite, issue 13). Frozen, those
    are left out of the passes until the evening ends, then handed back to the collector whole:
    nothing is kept from it, garbage made before the evening is collected after it."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _amended_since(state: SchoolDayState, now: datetime, day: date) -> Amended | None:
    """The register's "amended" question: marks of days before ``day`` imported since the
    school was last evaluated (None: never evaluated, nothing to ask)."""
    last = state.last_evaluated_at
    return None if last is None else (last, now, day)


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
