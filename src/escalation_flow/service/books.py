"""A school's books (its cases, one ``SchoolCases`` per flow version they run under) and the
history writer under one version: what the school day and the timers both start from."""

from __future__ import annotations

from datetime import datetime

from escalation_flow.ports import CaseTransaction, HistoryWriting, StoredCase
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.register import SchoolSetup
from escalation_flow.service.versions import CasesByVersion, cases_by_version, versions_of


def school_books(
    ctx: ServiceContext,
    tx: CaseTransaction,
    setup: SchoolSetup,
    pupils: tuple[str, ...],
    stored: dict[str, StoredCase],
) -> CasesByVersion:
    """The school's books, with the set-up of every version the stored cases run under read
    first (from the store's ``flow_versions`` when not the school's current file)."""
    known = set(pupils)
    running = [held for pupil, held in stored.items() if pupil in known]
    setups = {
        v: ctx.setup_at(setup.school, v, tx)
        for v in sorted(versions_of(running, setup.flow.version))
    }
    return cases_by_version(setup, setups, pupils, stored)


def history_writer(
    ctx: ServiceContext, tx: CaseTransaction, setup: SchoolSetup, sid: int, now: datetime
) -> HistoryWriting:
    """The writer of the school's decisions under ``setup``'s flow version (kept in the store)."""
    ctx.keep_flow_version(tx, setup.flow, now)
    return tx.history_writer(
        school_id=sid,
        school=setup.school,
        flow=setup.flow.id,
        flow_version=setup.flow.version,
        now=now,
        worker=ctx.worker,
    )
