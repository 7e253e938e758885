"""A daemon's start readies its first evening, beside its schedule.

A daemon that ran the evening before has, at its next evening, what a restarted one lacks: the
letter templates compiled (Jinja compiles a template at its first rendering and keeps it for the
process), every open case decoded (``kept_cases``) and every register kept (``kept_registers``,
from the register files of its last stop or read whole). Measured at the end of the seventh
round, a restarted daemon's first evening cost about 1.5 s more than a warm one's, most of it
those. ``warm_up`` does the same work at the start, with the calls the evening makes
(``compile_letters``, ``load_cases``, the register reader's ``ahead`` and ``keep``), so what it
keeps is what an evening would have kept, and the kept memory's own rules (rows of imports not
seen, case rows that moved on) bring it up to date at the evening, whatever was written since:
an import by this daemon or another process, staff actions, another daemon's timers, a
retention run.

It warms only the schools whose register files this daemon saved when it last stopped: the
schools it ran. With several daemons on one database, which takes a school's evening is
decided by the school's lock at the time, so warming every school would have each daemon
read and hold the whole trust; and after a crash, a retention run or a first start (no
files) the registers would be whole reads queued on the helper processes ahead of the
timers' reads. Then only the templates are compiled and the first evening reads as before.

``WarmUp`` runs it in a thread of its own once the schedule is served (so a start that must catch
up is not delayed by it, and a timer due meanwhile fires on time): it stops, between two steps,
when the daemon is told to stop or when an evening begins (the evening then reads what is left
itself, as without a warm-up). A failure is logged (``daemon.not_warmed``) and never stops the
daemon: the first evening reads as it would have.
"""

from __future__ import annotations

import threading
import time as wall
from collections.abc import Callable
from dataclasses import dataclass

from structlog.typing import FilteringBoundLogger

from escalation_flow.adapters.letter_rendering import compile_letters
from escalation_flow.adapters.store import Store
from escalation_flow.service import Service
from escalation_flow.stored import OPEN


@dataclass(frozen=True)
class Warmed:
    """What a warm-up did (``stopped``: it was told to stop before the end)."""

    seconds: float  # a duration for the log, not a clock reading
    templates: int  # letter templates compiled
    cases: int  # open cases decoded into the kept cases (or found kept)
    schools: int  # schools whose kept register was brought up to date
    stopped: bool


def warm_up(service: Service, store: Store, stop: Callable[[], bool]) -> Warmed:
    """Compile the letters the trust's flows prepare; for each school whose register file this
    daemon's folder holds (kept when it last stopped), decode its open cases into the store's
    kept cases and bring its kept register up to date (a store that keeps registers:
    ``Store.keep_registers``; none kept, or no files, only the letters); ``stop()`` is asked
    between steps. The registers are asked ahead first (a helper process reads them, or the
    prover's thread proves their files) while the cases are decoded here."""
    began = wall.perf_counter()
    stopped = False

    def halted() -> bool:  # whether a step is left undone (asked before each)
        nonlocal stopped
        stopped = stopped or stop()
        return stopped

    schools = service.schools()
    setups = [service.setup(school) for school in schools]
    letters = {(s.flow.id, name) for s in setups for name in s.flow.definition.letter_templates()}
    templates = compile_letters(letters, stop=halted)
    cases = kept = 0
    memory = store.registers_kept
    # Only the schools this daemon kept when it last stopped (their register files), or has
    # read since its start (the reconcile's timers and catch-up read them already): with
    # several daemons on one database each warms the schools it ran, not every school (which
    # one takes an evening is decided by its lock then); after a crash, a retention run or a
    # first start there are none, and no whole reads are queued ahead of the timers' reads.
    mine = [s for s in setups if memory is not None and memory.keeps(s.school, s.calendar)]
    if memory is not None and mine and not halted():
        service.ensure_schools()  # as an evening does first: a school new to the trust added
        now = service.now()
        with store.register_reader() as reader:
            for setup in mine:
                reader.ahead(setup.school, setup.calendar, now)
            for setup in mine:
                if halted():
                    break
                with store.read() as tx:
                    school = setup.school
                    cases += len(tx.load_cases(tx.school_id(school), school, status=OPEN))
            for setup in mine:
                if halted():
                    break
                reader.keep(setup.school, setup.calendar, now)
        # counted once the reader is done: a file proved ahead is kept even when told to stop
        kept = sum(memory.get(s.school, s.calendar) is not None for s in mine)
    return Warmed(wall.perf_counter() - began, templates, cases, kept, stopped)


class WarmUp:
    """``warm_up`` in a thread of the daemon's own (see the module's docstring)."""

    def __init__(
        self,
        service: Service,
        store: Store,
        log: FilteringBoundLogger,
        stopping: threading.Event,
    ) -> None:
        self._service = service
        self._store = store
        self._log = log
        self._stopping = stopping
        self._evening = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        #: what it did, once done (None: not done, or failed)
        self.warmed: Warmed | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="warm-up", daemon=True)
        self._thread.start()

    def evening_begins(self) -> None:
        """An evening is about to read: the warm-up leaves the rest to it (its reads beside the
        evening's would only compete with them)."""
        self._evening.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until it has ended, done, stopped or failed (not telling it to stop); False if
        it has not after ``timeout``."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self, timeout: float | None = None) -> bool:
        """Stop at the next step and wait for the thread; False if it is still running after
        ``timeout`` (a register's read or a file's proof in hand)."""
        self._closing.set()
        return self.wait(timeout)

    def _stop(self) -> bool:
        return self._stopping.is_set() or self._closing.is_set() or self._evening.is_set()

    def _run(self) -> None:
        try:
            warmed = warm_up(self._service, self._store, self._stop)
        except Exception as exc:  # never the daemon's failure: the evening reads as without it
            text = str(exc).strip()
            self._log.warning(
                "daemon.not_warmed",
                error=type(exc).__name__,
                reason=text.splitlines()[0] if text else None,
                hint="the first evening reads what it needs itself",
            )
            return
        self.warmed = warmed
        fields = {
            "seconds": round(warmed.seconds, 2),
            "templates": warmed.templates,
            "cases": warmed.cases,
            "schools": warmed.schools,
        }
        if warmed.stopped:
            by = "an evening" if self._evening.is_set() else "the daemon stopping"
            self._log.info("daemon.warm_up_stopped", by=by, **fields)
        else:
            self._log.info("daemon.warmed", **fields)
