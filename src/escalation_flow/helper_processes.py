"""Helper processes die with the process that started them (issue 14, item 6).

A helper (the register reader's, a letter-rendering pool's) holds memory and its parent's
output open; after a ``kill -9`` of its parent nothing else would stop it. Run
``die_with_parent(os.getpid())`` (of the parent) first in each helper, as the pool's
``initializer``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

#: Linux's prctl option: the signal a process gets when the thread that started it ends.
_PR_SET_PDEATHSIG = 1
#: How often a helper checks that its parent is still there (where prctl is not to be had).
PARENT_CHECK_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """In each helper, first: end when the process that started it ends, however it ends.

    Linux sends the parent-death signal when the *thread* that started the helper ends (start
    a pool in the thread that uses it); the parent-pid check covers other systems and a parent
    that died before the ``prctl``.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the check below still holds
            pass
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        threading.Event().wait(PARENT_CHECK_SECONDS)
    os._exit(1)
