"""The facts across a family as the service gives them, from the evenings the store keeps.

A school's evening of day D keeps, in the transaction that records the day, what it left:
per pupil, an open case and unauthorised sessions over the last 10 school weeks
(``ports.CaseTransaction.record_family_evening``, first write kept). Whatever is decided on a
school day D at an instant (the evening, a timer, a staff action) reads per school the latest
evening of a day before D recorded before that instant, with the contacts as known at the
start of D (or that instant, if earlier): ``core.family_facts.snapshot_at``, which a
replay calls on the same rows with the step's ``recorded_at`` (``audit.inputs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.facts import FactTable
from escalation_flow.core.family_facts import (
    SchoolEvening,
    facts_of,
    family_names_read,
    snapshot_at,
)
from escalation_flow.core.school_cases import FloatArray
from escalation_flow.ports import CaseTransaction
from escalation_flow.service.context import ServiceContext
from escalation_flow.service.register import SchoolSetup
from escalation_flow.service.versions import CasesByVersion

UNAUTHORISED_LAST_10_WEEKS = "unauthorised_sessions_last_10_school_weeks"


def family_at(
    ctx: ServiceContext,
    tx: CaseTransaction,
    setup: SchoolSetup,
    pupils: Sequence[str],
    day: int,
    cut: datetime,
    contacts: Sequence[ContactVersion] | None = None,
) -> dict[str, FloatArray]:
    """The family facts of ``pupils`` for school day ``day``, read at ``cut`` (``contacts``:
    the store's every version, if already read)."""
    on = setup.calendar.school_days[day]
    versions = ctx.store.contact_versions() if contacts is None else contacts
    evenings = tx.family_evenings(on, cut)
    snapshot = snapshot_at(versions, evenings, on, setup.calendar.timezone, cut)
    return facts_of(snapshot, setup.school, pupils)


def family_if_read(
    ctx: ServiceContext,
    tx: CaseTransaction,
    setup: SchoolSetup,
    pupils: Sequence[str],
    day: int,
    cut: datetime,
) -> dict[str, FloatArray] | None:
    """``family_at`` where ``setup``'s flow names a family fact; else None (unknown, which no
    guard of that flow reads), sparing a timer or a staff action the trust's contacts."""
    return family_at(ctx, tx, setup, pupils, day, cut) if family_names_read(setup.flow) else None


def evening_left(books: CasesByVersion, facts: FactTable) -> SchoolEvening:
    """What the evening leaves: each pupil's case open after it (in whichever flow version's
    book runs the pupil), and their unauthorised sessions as the evening's facts count them."""
    pupils = books.pupils
    open_case = np.zeros(len(pupils), dtype=bool)
    for vb in books.books:
        here = vb.book.state_id >= 0
        runs = vb.book.decides_for
        open_case |= here if runs is None else here & runs
    sessions = np.asarray(facts.values[UNAUTHORISED_LAST_10_WEEKS], dtype=np.float64)
    return SchoolEvening(books.current.setup.school, pupils, open_case, sessions)
