"""Open cases stay on the flow version they were opened under.

When a school changes its flow file, a case opened under the old text keeps running under it (its
stages, guards, timers and letters as the family was told them) until someone moves it with a
recorded ``flow_migrated`` (``escalation-flow case migrate``). So a school's cases are run in one
``SchoolCases`` per flow version: the school's current file for every pupil without an open case on
an earlier version (and for the day's universal tasks, which belong to the school, not to a case),
and one book for each earlier version that still has open cases, running those cases only. A
closed case re-opens under the current file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from escalation_flow.core.case import Case
from escalation_flow.core.school_day import SchoolCases
from escalation_flow.errors import FlowError
from escalation_flow.ports import StoredCase
from escalation_flow.service.register import SchoolSetup


@dataclass(frozen=True)
class VersionCases:
    """The cases of one school that run under one flow version."""

    setup: SchoolSetup  # the school's set-up with that version's flow
    book: SchoolCases

    @property
    def version(self) -> str:
        return self.setup.flow.version


def version_of(case: Case, current: str) -> str:
    """The flow version a case runs under: its own while open, else the school's current one."""
    return case.flow_version if case.is_open and case.flow_version else current


def versions_of(stored: Iterable[StoredCase], current: str) -> set[str]:
    """The flow versions these cases run under (to be loaded before they are evaluated)."""
    return {version_of(held.case, current) for held in stored}


class CasesByVersion:
    """A school's books, the current flow's first; each case is held in the book of its version.

    ``place`` puts a case in its book (made when first needed, in the order cases are placed)
    and keeps every book.s ``decides_for`` mask saying which book runs which pupil, so the current flow
    never opens a second case for a pupil whose case runs under an earlier version. The set-ups
    of the versions are handed in, read before evaluation: nothing is read from the store while
    a day or a timer is being decided.
    """

    def __init__(
        self,
        setup: SchoolSetup,
        pupils: tuple[str, ...],
        setups: Mapping[str, SchoolSetup] | None = None,
    ) -> None:
        self.pupils = pupils
        self._setups = {setup.flow.version: setup, **(setups or {})}
        self.books = [VersionCases(setup, setup.book(pupils))]

    @property
    def current(self) -> VersionCases:
        return self.books[0]

    def has(self, version: str) -> bool:
        return version in self._setups

    def add(self, setup: SchoolSetup) -> None:
        """The set-up of one more version (read by the caller before it is needed)."""
        self._setups.setdefault(setup.flow.version, setup)

    def place(self, p: int, case: Case) -> VersionCases:
        vb = self._book(version_of(case, self.current.version))
        for other in self.books:
            if other.book.decides_for is None:
                if other is vb:
                    continue
                other.book.decides_for = np.ones(len(self.pupils), dtype=bool)
            other.book.decides_for[p] = other is vb
        vb.book.load(p, case)
        return vb

    def _book(self, version: str) -> VersionCases:
        found = next((vb for vb in self.books if vb.version == version), None)
        if found is None:
            at = self._setups.get(version)
            if at is None:
                raise FlowError(f"flow version {version[:12]} was not loaded before evaluation")
            runs = np.zeros(len(self.pupils), dtype=bool)
            found = VersionCases(at, at.book(self.pupils, decides_for=runs, makes_universal_tasks=False))
            self.books.append(found)
        return found


def cases_by_version(
    setup: SchoolSetup,
    setups: Mapping[str, SchoolSetup],
    pupils: tuple[str, ...],
    stored: Mapping[str, StoredCase],
) -> CasesByVersion:
    """The school's books with each stored case placed in the book of its version (cases of
    pupils not in ``pupils`` are left out); ``setups``: each version's set-up, read already."""
    books = CasesByVersion(setup, pupils, setups)
    index = {p: i for i, p in enumerate(pupils)}
    for pupil, held in stored.items():
        p = index.get(pupil)
        if p is not None:
            books.place(p, held.case)
    return books
