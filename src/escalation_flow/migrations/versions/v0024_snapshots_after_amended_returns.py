"""The snapshots of cases an amendment once returned to an earlier state are dropped.

A state an amendment returned a case to now has no ``entered_by`` (``core.case._led_by``): the
guard stored there before led into the state the amendment undid, not into this one, so a later
amendment undid the undoing (the case back and forth between the two states, the withdrawn
letter made again). A snapshot folded before holds the old value: the engine would resume from
it and ``audit verify`` would name it ``snapshot_edited``. Only those cases' snapshots are
dropped (a few: every other case folds as before); the engine folds their histories instead
and writes a snapshot again with the case's next decision.

Down: nothing to put back (a missing snapshot is folded by any version).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``body`` is canonical JSON (sorted keys, no spaces): the trigger reads as written here
    op.execute(
        "UPDATE cases SET snapshot = NULL WHERE id IN ("
        "SELECT case_id FROM case_events WHERE type IN ('stage_entered', 'state_entered') "
        "AND body LIKE '%\"trigger\":\"amended\"%')"
    )


def downgrade() -> None:
    pass
