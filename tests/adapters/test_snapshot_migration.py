"""Migration 0024: every case's snapshot is written again from its history (the fold changed:
``Case`` keeps the case as it stood before its step, and a state an amendment returned a case
to has its own entry back); a history that does not fold is left with none. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.adapters.store.cases import fold_case, school_id
from escalation_flow.adapters.store.schema import current_revision, upgrade
from escalation_flow.adapters.store.snapshots import case_to_json
from escalation_flow.core.case import Case, fold
from escalation_flow.core.decisions import (
    CaseOpened,
    Decision,
    Reason,
    StageEntered,
    StateEntered,
)
from escalation_flow.stored import ENGINE, CaseChange, StoredCase
from tests.adapters.test_row_storage import _downgrade
from tests.adapters.test_store import _trust, blank  # noqa: F401

T0 = datetime(2025, 10, 6, 17, 0, tzinfo=UTC)
LED = Reason(trigger="daily", guard="unresolved_n_sessions >= 1")
BACK = Reason(trigger="amended", guard="unresolved_n_sessions >= 1", quote="marks amended")


def _history(returned: bool) -> list[Decision]:
    history: list[Decision] = [
        CaseOpened(on=date(2025, 10, 1), at=T0, flow="f", flow_version="v"),
        StageEntered(
            on=date(2025, 10, 1), at=T0, stage=1, state="stage_1.check", from_stage=0,
            reason=Reason(trigger="escalation", guard="attendance_pct < 96"),
        ),
        StateEntered(
            on=date(2025, 10, 2), at=T0, state="stage_1.letter", from_state="stage_1.check",
            reason=LED,
        ),
    ]  # fmt: skip
    if returned:
        history.append(
            StateEntered(
                on=date(2025, 10, 6), at=T0, state="stage_1.check",
                from_state="stage_1.letter", reason=BACK,
            )
        )  # fmt: skip
    return history


@pytest.fixture
def store(blank: Store) -> Store:  # noqa: F811
    blank.migrate()
    blank.upsert_schools(_trust("oaks"))
    return blank


def _write(store: Store, pupil: str, history: list[Decision]) -> None:
    with store.engine.begin() as conn:
        change = CaseChange(
            StoredCase(None, Case("oaks", pupil)), history, fold("oaks", pupil, history), ENGINE
        )
        HistoryWriter(
            conn, school_id=school_id(conn, "oaks"), school="oaks", flow="f", flow_version="v",
            now=T0, worker="test",
        ).write([change])  # fmt: skip


def test_every_snapshot_is_written_again_from_its_history(store: Store) -> None:
    _write(store, "P1", _history(returned=True))
    _write(store, "P2", _history(returned=False))
    _downgrade(store, "0023")
    with store.engine.begin() as conn:  # as an earlier version left them
        conn.exec_driver_sql('UPDATE cases SET snapshot = \'{"_v": "older"}\'')
    upgrade(store.engine)
    assert current_revision(store.engine) == "0024"
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, pupil, snapshot FROM cases")).all()
        folded = {pupil: fold_case(conn, i, "oaks", pupil) for i, pupil, _ in rows}
    assert {pupil: text for _, pupil, text in rows} == {
        p: case_to_json(case) for p, case in folded.items()
    }
    back = folded["P1"]
    assert (back.state, back.entered_by, back.state_entered_on) == (
        "stage_1.check",
        None,
        date(2025, 10, 1),
    )
    assert folded["P2"].prior_state_entered_on == date(2025, 10, 1)


def test_a_history_that_does_not_fold_is_left_with_no_snapshot(store: Store) -> None:
    _write(store, "P1", _history(returned=False))
    _downgrade(store, "0023")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE case_events SET body = '{}' WHERE seq = 2")
    upgrade(store.engine)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT snapshot FROM cases")).scalar_one() is None
