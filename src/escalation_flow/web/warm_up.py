"""What the first pages after a start read, read before the server says it is ready.

After a restart the first worklist read every school's flow (about 0.2 s a file), roster and
open tasks, and the first search built the trust's pupil index: over a second at 30 schools,
paid by whoever came first on Monday morning. ``serve`` reads them before it binds its socket,
so systemd's READY=1 (``web/serving.py``) means the pages answer at their warm speed. A failure
here is logged and left to the page that needs the data (``/readyz`` names a database that does
not answer): a server that starts and says why it is not ready beats one that will not start.
"""

from __future__ import annotations

import time

import structlog

from escalation_flow.web import work_rows
from escalation_flow.web.school_data import flow_of, roster_of
from escalation_flow.web.search import pupil_index
from escalation_flow.web.webapp import WebApp

log = structlog.get_logger(__name__)


def warm_up(web: WebApp) -> float:
    """Read every school's flow and roster, the pupil index and the worklist's rows; the
    seconds it took (0.0 and a log line when the store cannot be read yet)."""
    started = time.perf_counter()
    try:
        for school in web.service.trust.schools:
            flow_of(web, school)
            roster_of(web, school)
        pupil_index(web)
        work_rows.warm(web, web.today())
    except Exception as exc:  # whatever it is, the page that needs the data will say it
        log.warning("web.warm_up_failed", error=str(exc))
        return 0.0
    took = time.perf_counter() - started
    log.info("web.warmed_up", seconds=round(took, 3))
    return took
