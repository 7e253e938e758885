"""Letters rendered after the day's commit, in a pool of processes (issue 13: off the day's
critical path).

A school day prepares each new letter as HTML with its whole context (``letters.figures``) in
the transaction that creates its task; the PDF is left "to render" (``letters.pdf`` NULL). Once
the day is committed, ``render_pending`` renders every letter still to render, oldest first, in
a ``ProcessPoolExecutor`` (fpdf2 is pure Python: one process a core), and keeps each PDF in a
short transaction of its own batch that also chains its sha256 (``letter_rendered``). A crash
between the commit and the rendering loses nothing: the letters stay to render, and the next
``run-day``, daemon start or evening renders them. The pages say "being prepared" meanwhile and
render one at once if it is asked for.

The pool's processes die with the process that started them (the register helper's
parent-death signal and parent-pid check): a ``kill -9`` leaves none rendering on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from escalation_flow.adapters.letter_jobs import Job, render_job
from escalation_flow.helper_processes import die_with_parent
from escalation_flow.ports import CaseTransaction, Record
from escalation_flow.service.context import ServiceContext

#: Below this many letters a pool costs more to start (a second a process) than it saves.
POOL_FROM = 12
#: PDFs kept per transaction.
BATCH = 50


def workers_for(count: int, wanted: int | None = None) -> int:
    """Pool processes for ``count`` letters: ``wanted`` (0: none, render here), else one a
    core, or none for a few letters."""
    if wanted is not None:
        return min(wanted, count)
    if count < POOL_FROM:
        return 0
    return max(1, min(os.cpu_count() or 1, count))


def render_pending(
    ctx: ServiceContext,
    limit: int | None = None,
    workers: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Render every letter still to render (oldest first, at most ``limit``); how many were.
    ``stop()`` is asked as each letter is done: once it says so, the letters not started are
    left to render (a daemon stopping; those rendered are kept)."""
    with ctx.store.read() as tx:
        rows = tx.letters_without_pdf(limit)
        jobs = _jobs(ctx, tx, rows)
    if not jobs:
        return 0
    stopping = stop or _never
    pool_size = workers_for(len(jobs), workers)
    ctx.log.info("letters.rendering", letters=len(jobs), processes=pool_size)
    done = 0
    figures = {job.letter_id: job.figures for job in jobs}  # kept only if still the letter's
    batch: list[tuple[int, bytes | None, str | None]] = []
    if pool_size == 0:
        for job in jobs:
            if stopping():
                break
            batch.append(render_job(job))
            if len(batch) >= BATCH:
                done += _keep(ctx, batch, figures)
                batch = []
        return done + _keep(ctx, batch, figures)
    with _pool(pool_size) as pool:
        futures = [pool.submit(render_job, job) for job in jobs]
        for future in as_completed(futures):
            if future.cancelled():
                continue
            batch.append(future.result())
            if len(batch) >= BATCH:
                done += _keep(ctx, batch, figures)
                batch = []
            if stopping():
                for waiting in futures:
                    waiting.cancel()  # not started: left to render; running ones finish
        done += _keep(ctx, batch, figures)
    return done


def _never() -> bool:
    return False


def _jobs(ctx: ServiceContext, tx: CaseTransaction, rows: Sequence[Record]) -> list[Job]:
    schools: dict[int, str] = {}
    out = []
    for row in rows:
        case_id = int(row.case_id)
        if case_id not in schools:
            schools[case_id] = tx.school_of_case(case_id)
        flow = ctx.setup(schools[case_id]).flow.id
        out.append(Job(int(row.id), str(row.template), str(row.figures), flow))
    return out


def _keep(
    ctx: ServiceContext,
    results: Sequence[tuple[int, bytes | None, str | None]],
    figures: Mapping[int, str],
) -> int:
    if not results:
        return 0
    kept = 0
    now = ctx.now()
    with ctx.store.begin() as tx:
        for letter_id, pdf, problem in results:
            if pdf is None:
                ctx.log.warning("letter.render_failed", letter_id=letter_id, reason=problem)
            elif tx.keep_letter_pdf(letter_id, pdf, now, figures[letter_id]):
                kept += 1
    return kept


def start_method() -> str:
    """Forked where the system can and this process runs one thread (a pool process starts at
    once with fpdf2 loaded; it renders from the job alone, touches none of the connections it
    inherits, and leaves by ``os._exit``, which closes none); else spawned. A daemon renders
    from a thread of its own while its scheduler's thread evaluates or fires timers: a child
    forked then inherits every lock that thread held at that instant (a connection pool's, a
    logger's) with no thread left to release it, and could wait on it forever."""
    if threading.active_count() == 1 and "fork" in mp.get_all_start_methods():
        return "fork"
    return "spawn"


def _pool(size: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=size,
        mp_context=mp.get_context(start_method()),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
