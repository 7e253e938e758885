"""Every case's snapshot written again from its history: the fold changed.

``Case`` now keeps the case as it stood when the step into its current state was taken
(``prior_stage``, ``prior_state_entered_on``, ...: what that step's guard read, asked again when
marks are amended), and a state an amendment returned a case to has no ``entered_by`` and its
own entry day back (``core.case._entered``). A snapshot folded before is of another format:
the engine would fold the history instead on every read until the case's next decision, and
``audit verify`` passes it over. So each is folded once here and written again (a history that
does not fold is left with no snapshot, as the engine treats one it cannot read).

Down: the snapshots are left as they are (an older version reads none of this format and folds
the history instead).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    # the code's own fold and snapshot text: a snapshot must be exactly what they give now
    from escalation_flow.adapters.store.cases import fold_case
    from escalation_flow.adapters.store.snapshots import case_to_json

    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT c.id, s.key, c.pupil FROM cases c JOIN schools s ON s.id = c.school_id")
    ).all()
    update = sa.text("UPDATE cases SET snapshot = :snapshot WHERE id = :id")
    batch: list[dict[str, object]] = []
    for case_id, school, pupil in rows:
        try:
            snapshot: str | None = case_to_json(fold_case(bind, case_id, school, pupil))
        except (KeyError, TypeError, ValueError):  # a history that does not fold: none
            snapshot = None
        batch.append({"snapshot": snapshot, "id": case_id})
        if len(batch) >= _BATCH:
            bind.execute(update, batch)
            batch = []
    if batch:
        bind.execute(update, batch)


def downgrade() -> None:
    pass
