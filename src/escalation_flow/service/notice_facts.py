"""The penalty-notice register's facts for one school's evening, as known at its cut-off.

A school's register is read with its marks (``RegisterAsKnown.load``): the notices and the
contacts recorded by the same instant the marks are read at, so an evening decides on what was
known then, whatever is recorded later, and decides the same when run again. A store without a
register (the memory store) or a school without notices gives none: every pupil then has the
facts of a pupil without notices (``core.penalty_notices.NO_NOTICES``), as in the backtest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from escalation_flow.core.contacts import ContactVersion
from escalation_flow.core.contacts import as_known_at as contacts_known_at
from escalation_flow.core.penalty_notices import NoticeVersion, as_known_at, school_facts
from escalation_flow.ports import ContactBook, PenaltyNoticeBook


@dataclass(frozen=True)
class NoticeRegisterAsKnown:
    """One school's notices and its pupils' contacts with parental responsibility, as known at
    one instant."""

    school: str
    notices: tuple[NoticeVersion, ...]
    responsible: dict[str, tuple[str, ...]]

    @classmethod
    def read(
        cls,
        store: object,
        school: str,
        known_at: datetime,
        contacts: Sequence[ContactVersion] | None = None,
    ) -> NoticeRegisterAsKnown | None:
        """None when the store keeps no register or the school has no notice known then.
        ``contacts``: the store's contact versions when already read (a school's evening reads
        them once for its family facts and this), else read here if needed."""
        if not isinstance(store, PenaltyNoticeBook):
            return None
        notices = as_known_at(store.penalty_notice_versions(school), known_at)
        if not notices:
            return None
        responsible: dict[str, list[str]] = {}
        if contacts is None and isinstance(store, ContactBook):
            contacts = store.contact_versions()
        if contacts is not None:
            mine = [v for v in contacts if v.school == school]
            for c in contacts_known_at(mine, known_at):
                if c.parental_responsibility:
                    responsible.setdefault(c.pupil, []).append(c.contact)
        return cls(school, tuple(notices), {p: tuple(cs) for p, cs in responsible.items()})

    def facts(self, pupils: tuple[str, ...], on: date) -> dict[str, npt.NDArray[np.float64]]:
        return school_facts(pupils, self.school, self.notices, self.responsible, on)
