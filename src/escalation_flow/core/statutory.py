"""Duties the law puts on every school whatever its plan says: built in beside the flows.

**Telling a child's social worker of unexplained absence.** Working together to improve school
attendance (2024) asks schools to inform a child's social worker when the child is absent
without explanation. Where the contacts name a social worker for a pupil
(``core.family_facts.has_social_worker``), the school gets a task for the designated
safeguarding lead, due that day, on the *first* school day of each run of unexplained
absence the school knows the pupil has a social worker: a day with an ``N`` session (no reason
given by the registers' cut-off) after a school day without one, as the register is known that
evening, or the first day of a run already going when the social worker became known. A second
day of the same run makes no second task; once a day without ``N`` has come between, a new run
makes a new one.

The rule is not in any flow file, so a school's plan cannot forget it; it is made with the
universal tasks (``school_day``), from the book that makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from escalation_flow.core.definition import Duration, Role, Task, TaskKind
from escalation_flow.core.due_dates import due_date
from escalation_flow.core.family_facts import HAS_SOCIAL_WORKER
from escalation_flow.core.packed_counts import Key
from escalation_flow.core.school_cases import SchoolCases, UniversalTask
from escalation_flow.core.session_counts import CumulativeCounts

NOTIFY_SOCIAL_WORKER = Task(
    id="notify_social_worker",
    role=Role.DESIGNATED_SAFEGUARDING_LEAD,
    kind=TaskKind.CALL,
    due=Duration(school_days=0),
    outcomes=("notified", "not_reached"),
    why=(
        "Built in for every school (statutory guidance, 2024: a child's social worker is told "
        "of unexplained absence): the first school day of unexplained absence (N) of a pupil "
        "whose contacts name a social worker."
    ),
)

#: Every built-in task, by id (their kinds go beside the flows' universal tasks).
STATUTORY_TASKS: dict[str, Task] = {NOTIFY_SOCIAL_WORKER.id: NOTIFY_SOCIAL_WORKER}


def unexplained_today_and_yesterday(
    counts: CumulativeCounts, day: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per pupil: an ``N`` session on school day ``day``; and on the school day before."""
    today = counts.counts_between(2 * day, 2 * day + 1).count(Key.N) > 0
    if day == 0:
        return today, np.zeros_like(today)
    return today, counts.counts_between(2 * day - 2, 2 * day - 1).count(Key.N) > 0


def social_worker_notifications(
    book: SchoolCases,
    family: Mapping[str, Any],
    family_before: Mapping[str, Any] | None,
    counts: CumulativeCounts,
    day: int,
) -> list[UniversalTask]:
    """The notify-the-social-worker tasks of school day ``day``, in pupil order: ``family``
    holds ``has_social_worker`` as known for this day, ``family_before`` for the school day
    before (None: not known then)."""
    has_worker = np.asarray(family[HAS_SOCIAL_WORKER]) == 1.0  # unknown (NaN): no
    if not has_worker.any():
        return []
    had_worker = (
        np.asarray(family_before[HAS_SOCIAL_WORKER]) == 1.0
        if family_before is not None
        else np.zeros_like(has_worker)
    )
    today, yesterday = unexplained_today_and_yesterday(counts, day)
    hit = np.flatnonzero(has_worker & today & ~(yesterday & had_worker))
    if not hit.size:
        return []
    task, on = NOTIFY_SOCIAL_WORKER, book.ctx.calendar.school_days[day]
    due = due_date(book.ctx.calendar, on, task.due, for_timer=False)
    return [UniversalTask(on, book.pupils[int(p)], task.id, task.role.value, due) for p in hit]
