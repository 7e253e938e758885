"""Firing the timers that came due, a batch at a time (issue 13).

A school's due timers are taken in (fire_at, pupil, key) order in batches: one transaction
claims a batch (``CaseTransaction.claim_timers``: pending to fired, one statement; on
PostgreSQL a timer another worker holds is skipped), evaluates each claimed timer through the
one evaluation, writes all their history with one write per run of cases on one flow version,
prepares the letters, and commits. Only the worker whose claim hit a timer evaluates it, and the
claim and what it caused commit together, so a timer fires once whatever dies when.

Batches start small (the first timers show soon, and a daemon told to stop stops soon) and
double up to ``BATCH_MOST``, the size carried from one school to the next (a burst over twenty
schools restarting at ``BATCH_FIRST`` at each paid a transaction's fixed cost twice as often); a
batch ends early rather than hold one case twice, so every timer of a batch is decided on its
case as the store holds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime

from escalation_flow.core import evaluation
from escalation_flow.core.case import Case
from escalation_flow.core.decisions import Stimulus
from escalation_flow.core.engine import Moment
from escalation_flow.core.school_day import DayEnv
from escalation_flow.ports import (
    ENGINE,
    CaseChange,
    CaseTransaction,
    DueTimer,
    RegisterSource,
    StoredCase,
    Written,
)
from escalation_flow.service.books import history_writer, school_books
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.events import log_written
from escalation_flow.service.family_evenings import family_if_read
from escalation_flow.service.letter_preparation import Prepared, prepare_letters
from escalation_flow.service.register import RegisterAsKnown, SchoolSetup
from escalation_flow.service.versions import CasesByVersion, version_of
from escalation_flow.service.views import FiredTimer

#: Yields whether this worker may fire the school's timers now (held for the block).
SchoolGuard = Callable[[str], AbstractContextManager[bool]]

#: The first batch of a school's burst, and the most a batch grows to (each batch doubles).
BATCH_FIRST = 50
BATCH_MOST = 400


@dataclass
class _Burst:
    """One school's due timers being fired: what stays fixed, and the cases as they move."""

    setup: SchoolSetup
    register: RegisterAsKnown
    sid: int
    on: int  # the school day the timers are decided on
    now: datetime
    held: dict[str, StoredCase]
    books: CasesByVersion
    envs: dict[str, DayEnv]


@dataclass(frozen=True)
class _Decided:
    """One claimed timer, evaluated: the change it makes, under which version's set-up."""

    timer: DueTimer
    armed: str  # the flow's timer id
    change: CaseChange
    at: SchoolSetup


class TimerFiring:
    """Claims and fires due timers in batches (see the module's docstring)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def fire_due_timers(
        self,
        now: datetime | None = None,
        *,
        stop: Callable[[], bool] | None = None,
        school_guard: SchoolGuard | None = None,
    ) -> list[FiredTimer]:
        """Claim and fire every pending timer with ``fire_at <= now`` (default: the clock);
        ``stop()`` is asked before each batch (a daemon stopping finishes the batch in hand).
        ``school_guard(school)``: fire a school's timers only while it yields True (daemons on
        one PostgreSQL: the school's lock, so that one of them reads its register, not each)."""
        ctx = self.ctx
        now = now or ctx.now()
        with ctx.store.read() as tx:
            due = tx.due_timers(now)
        fired: list[FiredTimer] = []
        by_school: dict[str, list[DueTimer]] = {}
        for timer in due:
            by_school.setdefault(timer.school, []).append(timer)
        schools = list(by_school)
        sizes = BatchSizes()
        with ctx.store.register_reader() as reader, _Guards(school_guard) as guards:
            # The next school's register is read (in the register helper) while one school's
            # timers fire: a start after a downtime reads every school's register whole, and
            # read here, one after another, those reads were three quarters of its catch-up.
            # Under a guard, only a school this worker holds is read ahead (a read of a school
            # another daemon has would be wasted).
            if len(schools) > 1 and school_guard is None:
                for school in schools:
                    reader.ahead(school, ctx.setup(school).calendar, now)
            for i, school in enumerate(schools):
                if stop is not None and stop():
                    break
                mine = guards.take(school)
                if len(schools) > 1 and school_guard is not None:
                    for ahead in schools[i : i + 2]:
                        if guards.take(ahead):
                            reader.ahead(ahead, ctx.setup(ahead).calendar, now)
                try:
                    if mine:
                        timers = by_school[school]
                        fired += self._fire_school(school, timers, now, stop, reader, sizes)
                    else:
                        ctx.log.info("timers.school_taken_by_other", school=school)
                finally:
                    guards.release(school)
        return fired

    def _fire_school(
        self,
        school: str,
        timers: Sequence[DueTimer],
        now: datetime,
        stop: Callable[[], bool] | None = None,
        reader: RegisterSource | None = None,
        sizes: BatchSizes | None = None,
    ) -> list[FiredTimer]:
        """One school's due timers, in (fire_at, pupil, key) order, a batch per transaction
        (``sizes``: the burst's batch size so far; a new burst's when None)."""
        ctx = self.ctx
        setup = ctx.setup(school)
        on = setup.action_day(now)
        read = reader.read(school, setup.calendar, now) if reader else None
        register = RegisterAsKnown.load(ctx.store, setup, now, on, read)
        sid = timers[0].school_id
        with ctx.store.read() as tx:
            held = tx.load_cases(sid, school, {t.pupil for t in timers})
            books = school_books(ctx, tx, setup, register.pupils, held)
        burst = _Burst(setup, register, sid, on, now, held, books, {})
        out: list[FiredTimer] = []
        for batch in batches(timers, sizes):
            if stop is not None and stop():
                break
            out += self._fire_batch(burst, batch)
        return out

    def _fire_batch(self, burst: _Burst, batch: Sequence[DueTimer]) -> list[FiredTimer]:
        """Claim the batch, decide what was claimed, write it: one transaction."""
        ctx = self.ctx
        with ctx.store.begin() as tx:
            lengths = tx.claim_timers([t.id for t in batch], burst.now, ctx.worker)
            decided = [
                d
                for t in batch
                if t.id in lengths and (d := self._decide(tx, burst, t, lengths[t.id])) is not None
            ]
            written = self._write(tx, burst, decided)
        return [
            self._report(burst, d, w, letters)
            for d, (w, letters) in zip(decided, written, strict=True)
        ]

    def _decide(
        self, tx: CaseTransaction, burst: _Burst, timer: DueTimer, length: int
    ) -> _Decided | None:
        """The claimed timer through the one evaluation, on its case as the store holds it."""
        stored = _current(tx, burst, timer, length)
        case = stored.case
        p = burst.books.current.book.pupil_index(timer.pupil)
        armed = next((a for a in case.timers if a.key == timer.key), None)
        if p is None or armed is None:
            self.ctx.log.warning(
                "timer.not_armed", school=burst.setup.school, case_id=timer.case_id,
                timer_id=timer.id, timer=timer.key,
            )  # fmt: skip
            return None
        self._ensure_version(tx, burst.books, case)
        vb = burst.books.place(p, case)
        at = vb.setup
        env = burst.envs.get(vb.version)
        if env is None:
            facts = burst.register.morning_facts(burst.on, at.flow)
            pupils, counts = burst.register.pupils, burst.register.counts
            family = family_if_read(self.ctx, tx, at, pupils, burst.on, burst.now)
            env = burst.envs[vb.version] = DayEnv(vb.book, facts, counts, family)
        stimulus = Stimulus("timer", timer.key)
        moment = Moment(at.calendar.school_days[burst.on], burst.now)
        decisions, after = evaluation.evaluate(at.ctx, case, env, p, stimulus, moment)
        burst.books.place(p, after)
        return _Decided(timer, armed.timer, CaseChange(stored, decisions, after, ENGINE), at)

    def _write(
        self, tx: CaseTransaction, burst: _Burst, decided: Sequence[_Decided]
    ) -> list[tuple[Written, list[Prepared]]]:
        """Every decided timer's history, one write per run of timers on one flow version (in
        the batch's order), and the letters they prepare; per timer, what was written for it."""
        out: list[tuple[Written, list[Prepared]]] = []
        for run in _runs(decided):
            at = run[0].at
            writer = history_writer(self.ctx, tx, at, burst.sid, burst.now)
            claimed = {(d.timer.pupil, d.timer.key) for d in run}
            written = writer.write([d.change for d in run], claimed=claimed)
            facts = burst.register.morning_facts(burst.on, at.flow)
            letters = prepare_letters(tx, at, burst.register, facts, written.tasks, burst.now)
            out += _per_timer(run, written, letters)
            for d in run:
                pupil, stored = d.timer.pupil, d.change.before
                head = written.heads.get(pupil, stored.head_hash)
                burst.held[pupil] = StoredCase(stored.id, d.change.after, head)
        return out

    def _report(
        self, burst: _Burst, d: _Decided, written: Written, letters: list[Prepared]
    ) -> FiredTimer:
        """Logged once committed; the timer as fired."""
        timer, now = d.timer, burst.now
        late = max(0, int((now - timer.fire_at).total_seconds()))
        log_written(
            self.ctx.log, burst.setup.school, [d.change], written, letters,
            timer_id=timer.id, late_seconds=late,
        )  # fmt: skip
        return FiredTimer(
            timer.id, timer.school, timer.pupil, timer.case_id, timer.key, d.armed,
            timer.fire_at, now, late, tuple(d.change.decisions),
        )  # fmt: skip

    def _ensure_version(self, tx: CaseTransaction, books: CasesByVersion, case: Case) -> None:
        """A case read again (its history grew since the burst began) may have moved to a
        version not loaded yet: load it before the timer is evaluated."""
        version = version_of(case, books.current.version)
        if not books.has(version):
            books.add(self.ctx.setup_at(books.current.setup.school, version, tx))


class _Guards:
    """The schools' guards this worker holds: a school is taken once (it may be taken ahead of
    its turn, to read its register meanwhile) and released as soon as its timers are done, so
    that another daemon's evening of it is kept waiting no longer; all released on the way out."""

    def __init__(self, guard: SchoolGuard | None) -> None:
        self.guard = guard
        self.held: dict[str, tuple[ExitStack, bool]] = {}

    def __enter__(self) -> _Guards:
        return self

    def __exit__(self, *_: object) -> None:
        for school in list(self.held):
            self.release(school)

    def take(self, school: str) -> bool:
        """Whether this worker may fire the school's timers (held until ``release``)."""
        if self.guard is None:
            return True
        if school not in self.held:
            stack = ExitStack()
            try:
                mine = stack.enter_context(self.guard(school))
            except BaseException:
                stack.close()
                raise
            self.held[school] = (stack, mine)
        return self.held[school][1]

    def release(self, school: str) -> None:
        held = self.held.pop(school, None)
        if held is not None:
            held[0].close()


class BatchSizes:
    """A burst's next batch size: ``BATCH_FIRST``, doubled after each batch up to
    ``BATCH_MOST``; one burst's schools share it, so only the burst's first batches are small."""

    def __init__(self) -> None:
        self.size = BATCH_FIRST

    def grow(self) -> None:
        self.size = min(self.size * 2, BATCH_MOST)


def batches(
    timers: Sequence[DueTimer], sizes: BatchSizes | None = None
) -> Iterator[list[DueTimer]]:
    """The timers in order, in batches of ``sizes`` (a new burst's when None: ``BATCH_FIRST``
    doubling to ``BATCH_MOST``), grown after each batch handed out; a batch ends before a case
    it already holds."""
    sizes = sizes or BatchSizes()
    batch, cases = list[DueTimer](), set[int]()
    for timer in timers:
        if len(batch) >= sizes.size or timer.case_id in cases:
            yield batch
            sizes.grow()
            batch, cases = [], set()
        batch.append(timer)
        cases.add(timer.case_id)
    if batch:
        yield batch
        sizes.grow()


def _runs(decided: Sequence[_Decided]) -> Iterator[list[_Decided]]:
    """Consecutive timers decided under one flow version."""
    run: list[_Decided] = []
    for d in decided:
        if run and run[0].at.flow.version != d.at.flow.version:
            yield run
            run = []
        run.append(d)
    if run:
        yield run


def _per_timer(
    run: Sequence[_Decided], written: Written, letters: Sequence[Prepared]
) -> list[tuple[Written, list[Prepared]]]:
    """What one write recorded, split by timer (each case is in a batch once)."""
    tasks, prepared = defaultdict(list), defaultdict(list)
    for task in written.tasks:
        tasks[task.pupil].append(task)
    for letter in letters:
        prepared[letter.task.pupil].append(letter)
    out = []
    for d in run:
        pupil = d.timer.pupil
        ids = {pupil: written.case_ids[pupil]} if pupil in written.case_ids else {}
        heads = {pupil: written.heads[pupil]} if pupil in written.heads else {}
        one = Written(ids, tasks[pupil], len(d.change.decisions), heads)
        out.append((one, prepared[pupil]))
    return out


def _current(tx: CaseTransaction, burst: _Burst, timer: DueTimer, length: int) -> StoredCase:
    """The case as preloaded, unless its history has grown since (then read again)."""
    held = burst.held.get(timer.pupil)
    if held is not None and held.length == length:
        return held
    return tx.load_case(burst.sid, burst.setup.school, timer.pupil)
