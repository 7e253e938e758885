"""``tasks undo`` and ``case undo``: withdraw one's own last action within 15 minutes.

The undo is a recorded correction (``service.undo``); a refusal says why and exits 1 with the
service's message (someone else recorded it, the 15 minutes are over, something followed).
"""

from __future__ import annotations

import click

from escalation_flow.cli import root
from escalation_flow.cli.cases import case_group
from escalation_flow.cli.tasks import tasks_group
from escalation_flow.service.undo import Undone


@tasks_group.command("undo")
@click.argument("task_id", type=int)
@click.option("--by", "by", required=True, help="Who recorded the completion: only they may undo it.")
@click.option("--note", default=None, help="Why (kept with the correction).")
def tasks_undo(task_id: int, by: str, note: str | None) -> None:
    """Undo the completion of task TASK_ID, recorded by --by in the last 15 minutes."""
    with root().service() as service:
        done = service.undo.undo_task(task_id, by, note)
    click.echo(_line(done))


@case_group.command("undo")
@click.argument("school")
@click.argument("pupil")
@click.option("--by", "by", required=True, help="Who recorded the action: only they may undo it.")
@click.option("--note", default=None, help="Why (kept with the correction).")
def case_undo(school: str, pupil: str, by: str, note: str | None) -> None:
    """Undo the last action on a pupil's case (a task completed or an event recorded), recorded
    by --by in the last 15 minutes, while nothing has followed from it."""
    with root().service() as service:
        done = service.undo.undo_last(school, pupil, by, note)
    click.echo(_line(done))


def _line(done: Undone) -> str:
    case = done.case
    where = f"stage {case.stage} ({case.state})" if case.is_open else "no open case"
    return (
        f"undone: {done.what} ({done.correction.undoes} records corrected, none deleted); "
        f"the case is back at {where}"
    )
