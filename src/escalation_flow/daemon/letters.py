"""Letters rendered beside the schedule: a thread of the daemon's own runs the letter pool
(``service/letter_pool.py``) whenever it is asked to.

A start after a weekend's outage fires thousands of overdue timers and prepares a letter for
many of them (2,497 for the benchmark's 10,000 timers: about a minute of PDFs on two cores).
Rendered in the reconcile, they kept the daemon from its schedule for that minute; rendered in
the evening's job, they held the scheduler's one worker thread (a timer due meanwhile waited).
Here they are rendered after the commits that prepared them, while the scheduler runs: the
thread only waits on the pool's processes (fpdf2 runs there, not under this process's GIL) and
keeps each batch of PDFs in a short transaction of its own (``letters.pdf IS NULL``: a PDF the
pages rendered first stays).

Asked again while rendering, it renders again once done (what the last round did not see). A
daemon stopping cancels the letters not started; a ``kill -9`` leaves them "to render" (the pool's
processes die with the daemon), and the next start renders them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Renders the letters left to render, asking the callable given before each letter starts
#: whether to stop; how many were rendered.
Render = Callable[[Callable[[], bool]], int]


class LetterThread:
    """One thread rendering letters when asked (see the module's docstring)."""

    def __init__(self, render: Render, stopping: threading.Event) -> None:
        self._render = render
        self._stopping = stopping
        self._changed = threading.Condition()
        self._asked = False
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        #: letters rendered by this thread so far
        self.rendered = 0

    def ask(self) -> None:
        """Render every letter left to render, soon, without waiting for it."""
        with self._changed:
            if self._closed:
                return
            self._asked = True
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="letters", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is asked or being rendered; False if ``timeout`` ran out first."""
        with self._changed:
            return self._changed.wait_for(lambda: not (self._asked or self._busy), timeout)

    def close(self, wait: bool = True) -> None:
        """Take no more asks; the letters not started are left to render (with ``wait``, the
        ones being rendered are kept first)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _stop(self) -> bool:
        return self._closed or self._stopping.is_set()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._asked or self._closed)
                if self._closed:
                    self._asked = False
                    self._changed.notify_all()
                    return
                self._asked, self._busy = False, True
            rendered = 0
            try:
                rendered = self._render(self._stop)
            finally:
                with self._changed:
                    self._busy = False
                    self.rendered += rendered
                    self._changed.notify_all()
