"""Telling systemd how the process is doing: ``sd_notify`` over ``$NOTIFY_SOCKET``, written here.

The protocol is one datagram of ``KEY=value`` lines to the AF_UNIX socket systemd names in
``NOTIFY_SOCKET`` (a leading ``@`` is the abstract namespace). Without that variable (a terminal,
a test, cron) every call does nothing. About twenty lines, so no dependency (``sdnotify``,
``systemd-python``) and no C library to install on the school trust's server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

READY = "READY=1"
STOPPING = "STOPPING=1"


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to the service manager; False when there is none
    (no ``NOTIFY_SOCKET``) or it cannot be reached: telling systemd must never stop the work."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def status(words: str, environ: Mapping[str, str] | None = None) -> bool:
    """One line ``systemctl status`` shows beside the unit (no pupil data: counts only)."""
    return notify("STATUS=" + words.replace("\n", " "), environ)
