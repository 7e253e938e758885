"""Open cases stay on the flow version they were opened under.

When a school changes its flow file, a case opened under the old text keeps running under it (its
stages, guards, timers and letters as the family was told them) until someone moves it with a
recorded ``flow_migrated`` (``escalation-flow case migrate``). So a school's cases are run in one
``SchoolBook`` per flow version: the school's current file for every pupil without an open case on
an earlier version (and for the day's universal tasks, which belong to the school, not to a case),
and one book for each earlier version that still has open cases, running those cases only. A
closed case re-opens under the current file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from escalation_flow.adapters.store.cases import StoredCase
from escalation_flow.core.case import Case
from escalation_flow.core.school_day import SchoolBook
from escalation_flow.service.register import SchoolSetup

if TYPE_CHECKING:
    from escalation_flow.service.service import Service


@dataclass(frozen=True)
class VersionBook:
    """The cases of one school that run under one flow version."""

    setup: SchoolSetup  # the school's set-up with that version's flow
    book: SchoolBook

    @property
    def version(self) -> str:
        return self.setup.flow.version


def version_of(case: Case, current: str) -> str:
    """The flow version a case runs under: its own while open, else the school's current one."""
    return case.flow_version if case.is_open and case.flow_version else current


class VersionBooks:
    """A school's books, the current flow's first; each case is held in the book of its version.

    ``place`` puts a case in its book (made when first needed) and keeps every book's ``runs``
    mask saying which book runs which pupil, so the current flow never opens a second case for a
    pupil whose case runs under an earlier version.
    """

    def __init__(
        self,
        service: Service,
        setup: SchoolSetup,
        pupils: tuple[str, ...],
        conn: Connection | None = None,
    ) -> None:
        self._service, self._conn = service, conn
        self.pupils = pupils
        self.books = [VersionBook(setup, setup.book(pupils))]

    @property
    def current(self) -> VersionBook:
        return self.books[0]

    def place(self, p: int, case: Case) -> VersionBook:
        vb = self._book(version_of(case, self.current.version))
        for other in self.books:
            if other.book.runs is None:
                if other is vb:
                    continue
                other.book.runs = np.ones(len(self.pupils), dtype=bool)
            other.book.runs[p] = other is vb
        vb.book.load(p, case)
        return vb

    def _book(self, version: str) -> VersionBook:
        found = next((vb for vb in self.books if vb.version == version), None)
        if found is None:
            at = self._service.setup_at(self.current.setup.school, version, self._conn)
            runs = np.zeros(len(self.pupils), dtype=bool)
            found = VersionBook(at, at.book(self.pupils, runs=runs, makes_universal=False))
            self.books.append(found)
        return found


def version_books(
    service: Service,
    setup: SchoolSetup,
    pupils: tuple[str, ...],
    stored: Mapping[str, StoredCase],
    conn: Connection | None = None,
) -> VersionBooks:
    """The school's books with each stored case placed in the book of its version (cases of
    pupils not in ``pupils`` are left out)."""
    books = VersionBooks(service, setup, pupils, conn)
    index = {p: i for i, p in enumerate(pupils)}
    for pupil, held in stored.items():
        p = index.get(pupil)
        if p is not None:
            books.place(p, held.case)
    return books
