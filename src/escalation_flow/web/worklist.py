"""Tasks as the pages show them: whose they are, when they are due, what buttons they get.

Built from the service's ``TaskView`` and the flow's definition of the task (its outcomes and the
plan's words), with the pupil's name and year group from the roster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from escalation_flow.core import definition as d
from escalation_flow.core.access import Principal
from escalation_flow.core.marks import PupilRecord, Roster
from escalation_flow.ports import TaskAck
from escalation_flow.service.views import TaskView
from escalation_flow.web.filters import humanize
from escalation_flow.web.plan_words import task_definition
from escalation_flow.web.safeguarding import is_safeguarding_task

_LETTER_STATUS = {
    "prepared": "prepared: it needs approving before it is sent",
    "approved": "approved: print or send it, then record it as sent",
    "sent": "sent",
    "superseded": "no longer needed",
}


@dataclass(frozen=True)
class TaskItem:
    id: int
    school: str
    school_name: str
    pupil: str
    pupil_name: str
    year_group: str
    task: str
    title: str
    role: str
    kind: str
    due: date
    bucket: str  # overdue | today | week | later
    stage_label: str
    outcomes: tuple[str, ...]
    outcome_labels: dict[str, str]
    quote: str | None
    letter_id: int | None
    letter_status: str | None
    can_complete: bool
    may_approve: bool
    ready: bool
    not_ready_why: str
    restricted: bool
    ack: TaskAck | None
    case_url: str
    #: a school-level duty's task: the pupils it covers, (id, name, case page)
    covers: tuple[tuple[str, str, str], ...] = ()

    @property
    def letter_status_text(self) -> str:
        return _LETTER_STATUS.get(self.letter_status or "", self.letter_status or "")


def bucket_of(due: date, today: date) -> str:
    if due < today:
        return "overdue"
    if due == today:
        return "today"
    end_of_week = today + timedelta(days=6 - today.weekday())
    return "week" if due <= end_of_week else "later"


def pupil_name(record: PupilRecord | None, pupil: str) -> str:
    if record is None:
        return pupil
    return f"{record.forename} {record.surname}".strip() or pupil


def task_item(
    view: TaskView,
    *,
    user: Principal,
    flow: d.Flow,
    roster: Roster,
    school_name: str,
    today: date,
    stage_label: str,
    ack: TaskAck | None,
) -> TaskItem:
    """One task for one viewer; safeguarding details are left out for those who may not see them."""
    record = roster.pupils.get(view.pupil)
    return listed_item(
        view,
        user=user,
        flow=flow,
        pupil=(pupil_name(record, view.pupil), record.year_group if record else ""),
        name_of=lambda p: pupil_name(roster.pupils.get(p), p),
        school_name=school_name,
        today=today,
        stage_label=stage_label,
        ack=ack,
    )


def listed_item(
    view: TaskView,
    *,
    user: Principal,
    flow: d.Flow,
    pupil: tuple[str, str],
    name_of: Callable[[str], str],
    school_name: str,
    today: date,
    stage_label: str,
    ack: TaskAck | None,
) -> TaskItem:
    """``task_item`` for a task whose pupil's name and year group are known already (``pupil``:
    the worklist's rows carry them), so that a page of fifty reads no roster; ``name_of`` names
    the pupils a school-level duty covers."""
    name, year = pupil
    definition = task_definition(flow, view.task)
    outcomes = definition.outcomes if definition else ("done",)
    restricted = is_safeguarding_task(view.role, view.task)
    hidden = restricted and not user.sees_safeguarding(view.school)
    can = (
        user.may_complete(view.school, view.role, year)
        and user.can_write(view.school)
        and not hidden
    )
    ready, why = True, ""
    if view.letter_id is not None and view.approval and view.letter_status == "prepared":
        ready = False
        why = "The letter is approved before it is sent."
    title = humanize(view.template or view.task) if not hidden else "Safeguarding task"
    if view.kind == "letter" and not hidden and "letter" not in title.lower():
        title += " (letter)"
    return TaskItem(
        id=view.id,
        school=view.school,
        school_name=school_name,
        pupil=view.pupil,
        pupil_name=name,
        year_group=year,
        task=view.task,
        title=title,
        role=view.role,
        kind=view.kind,
        due=view.due,
        bucket=bucket_of(view.due, today),
        stage_label=stage_label,
        outcomes=outcomes,
        outcome_labels={o: _outcome_label(o) for o in outcomes},
        quote=None if hidden else _quote(flow, view.task, definition),
        letter_id=None if hidden else view.letter_id,
        letter_status=view.letter_status,
        can_complete=can,
        may_approve=can and user.may_approve_letter(view.school, view.role),
        ready=ready,
        not_ready_why=why,
        restricted=restricted,
        ack=ack,
        case_url=f"/schools/{view.school}/pupils/{view.pupil}",
        covers=tuple(
            (p, name_of(p), f"/schools/{view.school}/pupils/{p}") for p in view.covers
        ),
    )


def _quote(flow: d.Flow, task: str, definition: d.Task | None) -> str | None:
    """The plan's words for a task, or for a school-level duty."""
    if definition is not None:
        return definition.quote
    duty = next((u for u in flow.definition.duties if u.id == task), None)
    return duty.quote if duty else None


def _outcome_label(outcome: str) -> str:
    return {
        "done": "Mark as done",
        "sent": "Record as sent",
    }.get(outcome, humanize(outcome))
