"""``escalation-flow tasks``: what is due (overdue first), and ``tasks done`` to complete one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import click

from escalation_flow.cli import main, root
from escalation_flow.cli.pupils import Names, pupil_option
from escalation_flow.cli.today import today_option
from escalation_flow.core.pupil_search import Named, search
from escalation_flow.service import Service
from escalation_flow.service.views import TaskView


@main.group("tasks", invoke_without_command=True)
@click.option("--school", default=None, help="Only this school (id or URN).")
@click.option("--role", default=None, help="Only tasks for this role (e.g. attendance_lead).")
@click.option(
    "--due-by", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Only tasks due by this date."
)
@pupil_option
@today_option("tasks")
@click.pass_context
def tasks_group(
    ctx: click.Context,
    school: str | None,
    role: str | None,
    due_by: datetime | None,
    pupil_query: str | None,
) -> None:
    """List the open tasks, overdue first (by how many school days), then by due date, with
    each pupil's name."""
    if ctx.invoked_subcommand is not None:
        return
    with root().service() as service:
        views = service.tasks(school=school, role=role, due_by=due_by.date() if due_by else None)
        names = Names(service)
        named = [(v, names.of(v.school, v.pupil) if v.pupil else "") for v in views]
        if pupil_query is not None:
            named = _found(pupil_query, named)
        table = task_table([v for v, _ in named], [n for _, n in named], names.of)
    click.echo(table)


def _found(query: str, named: list[tuple[TaskView, str]]) -> list[tuple[TaskView, str]]:
    """The tasks of the pupils ``query`` finds (a school's duty has no pupil: left out)."""
    pupils = search(query, {Named(v.pupil, n): None for v, n in named if v.pupil})
    keys = {p.pupil for p in pupils}
    return [(v, n) for v, n in named if v.pupil in keys]


@tasks_group.command("done")
@click.argument("task_id", type=int)
@click.option("--outcome", default=None, help="The outcome (needed when the task has several).")
@click.option("--by", "by", required=True, help="Who did it: a staff id (made with `users add`).")
@click.option("--note", default=None, help="A note kept with the completion.")
def tasks_done(task_id: int, outcome: str | None, by: str, note: str | None) -> None:
    """Record task TASK_ID as done (exit 4 if someone else completed it first)."""

    with root().service() as service:
        _may_complete(service, task_id, by)
        view = service.complete_task(task_id, outcome, by, note)
    if view.already_recorded:
        click.echo(
            f"task {view.id} ({view.task}) was already recorded as {view.outcome} by "
            f"{_person(service, view.completed_by)}; nothing new written"
        )
    else:
        click.echo(
            f"task {view.id} ({view.task}, {view.school} {view.pupil}) done: {view.outcome}, "
            f"by {_person(service, view.completed_by)}"
        )


def _person(service: Service, by: str | None) -> str:
    """Who recorded a task, by name with their staff id (``Alex Morgan (lead)``); a system
    actor or an id no longer on the staff as it was recorded."""
    from escalation_flow.cli import acting

    if not by:
        return "nobody"
    person = acting.principal_of(service, by)
    if person is None or not person.name or person.name == by:
        return by
    return f"{person.name} ({by})"


def _may_complete(service: Service, task_id: int, by: str) -> None:
    """Refuse whom the pages refuse (``web.pages_tasks.task_for_action``): someone who may not
    write at the task's school, whose role the task is not (unless they lead attendance there),
    or who is not the designated safeguarding lead for a safeguarding task."""
    from escalation_flow.cli import acting
    from escalation_flow.web.safeguarding import is_safeguarding_task

    if acting.principal_of(service, by) is None:
        return
    task = service.task(task_id)
    year = acting.year_group(service, task.school, task.pupil) if task.pupil else None
    acting.require(
        service, by, task.school, f"record task {task_id} ({task.task}, for {task.role})",
        lambda p: p.may_complete(task.school, task.role, year),
        f"it is recorded by its {task.role} or the school's attendance lead or headteacher",
    )  # fmt: skip
    if is_safeguarding_task(task.role, task.task):
        acting.require(
            service, by, task.school, f"record safeguarding task {task_id}",
            lambda p: p.sees_safeguarding(task.school),
            "safeguarding tasks are recorded by its designated safeguarding lead or the trust's "
            "attendance team",
        )  # fmt: skip


_HEADERS = ("id", "school", "pupil", "name", "task", "role", "due", "overdue", "approval")


def task_table(
    views: Sequence[TaskView],
    names: Sequence[str] | None = None,
    name_of: Callable[[str, str], str] | None = None,
) -> str:
    """A plain-text table; one line per task (``names``: each task's pupil's name;
    ``name_of(school, pupil)``: a name for each pupil a school's duty covers)."""
    if not views:
        return "no open tasks"
    shown = names if names is not None else [""] * len(views)
    rows = [_HEADERS, *(_row(v, n) for v, n in zip(views, shown, strict=True))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    body: list[str] = []
    for line, view in zip(lines[1:], views, strict=True):
        body.append(line)
        if view.covers:  # a school-level duty: the pupils its check covers
            covered = ", ".join(_covered(view.school, p, name_of) for p in view.covers)
            body.append(f"    covers {len(view.covers)}: {covered}")
    return "\n".join(
        [lines[0], "  ".join("-" * w for w in widths), *body, f"{len(views)} open tasks"]
    )


def _covered(school: str, pupil: str, name_of: Callable[[str, str], str] | None) -> str:
    """A covered pupil by name with the id after it (``Ava Jones (P1)``); the id alone when
    the roster does not name them."""
    name = name_of(school, pupil) if name_of is not None else ""
    return f"{name} ({pupil})" if name else pupil


def _row(v: TaskView, name: str) -> tuple[str, ...]:
    if v.overdue_days:
        overdue = f"{v.overdue_days} school day{'s' if v.overdue_days != 1 else ''}"
    else:
        overdue = ""
    approval = ""
    if v.approval:
        approval = "needed"
        if v.letter_id is not None:
            approval += f" (letter {v.letter_id}: {v.letter_status})"
    pupil = v.pupil or ("(school duty)" if v.covers else "")
    return (str(v.id), v.school, pupil, name, v.task, v.role, v.due.isoformat(), overdue, approval)
