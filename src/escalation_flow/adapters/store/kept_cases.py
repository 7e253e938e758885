"""Cases kept in memory between reads: a long-running daemon's open cases (issue 13).

Decoding each open case's snapshot was the largest part of loading a school's cases, and the
daemon loaded every open case of every school again each evening. A case row's length and the
hash at the head of its chain name one history, and a history folds to one case: a kept case
whose row still has the same id, length and head hash is the case the snapshot would give, so
only the cases whose row moved on (a staff action, another daemon's timer, a case the daemon
never read) are decoded. The rows themselves are read every time: whatever another process
wrote is seen, and nothing kept has to be told about it.

What the daemon writes itself is kept as it is written (``KeepingHistoryWriter``): the case the
engine folded, which is what its snapshot decodes to (``snapshots``: a snapshot holds exactly
what the fold yields). Closed cases are dropped: the evening reads only open ones (a closed
case that re-opens is read from its row). A rolled-back write leaves the row's length and head
as they were, so what was kept from it is never matched.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from escalation_flow.adapters.store.case_writer import HistoryWriter
from escalation_flow.core.case import Case
from escalation_flow.stored import CaseChange, Written


@dataclass(frozen=True)
class _Kept:
    length: int
    head_hash: str
    case: Case


class CaseMemory:
    """Folded cases by row id, each with the length and head hash of the row it was read from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[int, _Kept] = {}

    def get(
        self, case_id: int, length: int, head_hash: str, school: str, pupil: str
    ) -> Case | None:
        """The kept case of row ``case_id`` if the row still holds that history, else None
        (school and pupil asked too: a row id freed by a rollback or an erasure can come
        back for another pupil, whose history may hash the same)."""
        with self._lock:
            kept = self._kept.get(case_id)
        if kept is None or kept.length != length or kept.head_hash != head_hash:
            return None
        case = kept.case
        return case if (case.school, case.pupil) == (school, pupil) else None

    def put(self, case_id: int, head_hash: str, case: Case) -> None:
        with self._lock:
            if case.is_open:
                self._kept[case_id] = _Kept(case.length, head_hash, case)
            else:
                self._kept.pop(case_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


class KeepingHistoryWriter(HistoryWriter):
    """The history writer of a store that keeps cases: what it writes is kept too."""

    def __init__(self, conn: Connection, memory: CaseMemory, **writer: Any) -> None:
        super().__init__(conn, **writer)
        self.memory = memory

    def write(
        self, changes: Sequence[CaseChange], *, claimed: Collection[tuple[str, str]] = ()
    ) -> Written:
        written = super().write(changes, claimed=claimed)
        for change in changes:
            pupil = change.after.pupil
            if pupil in written.heads and pupil in written.case_ids:
                self.memory.put(written.case_ids[pupil], written.heads[pupil], change.after)
        return written
