"""The register facts one flow reads, and only those: what a backtest's evenings compute.

A flow's guards name a handful of the register facts (``fact_names.REGISTER_FACTS``); counting
every one of them for every pupil every evening was an eighth of a school's year of backtest.
``flow_fact_names`` is the set the flow's compiled guards read (their ``names``: entry criteria,
transitions, tasks, recurring and universal actions, named conditions inlined), so nothing is
listed by hand. ``FlowFacts.at`` computes only the groups of ``core.facts`` that hold one of
them, with the same functions, so each value is the one ``facts_from_counts`` gives (a property
test compares them name by name). A flow that reads a register fact no group here is known to
give (one added to ``core.facts`` since) is given every fact, as before: never a missing name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from escalation_flow.core.definition import Flow
from escalation_flow.core.fact_names import REGISTER_FACTS
from escalation_flow.core.facts import (
    DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
    DayWindows,
    FactTable,
    FloatArray,
    _Columns,
    _day_facts,
    _flag,
    _term_facts,
    _week_facts,
    _year_facts,
    facts_from_counts,
)
from escalation_flow.core.session_counts import CumulativeCounts

#: A group of facts computed together: (columns, windows, day, ytd minimum, window minimum).
Group = Callable[[_Columns, DayWindows, int, int, int], dict[str, FloatArray]]

_GROUPS: tuple[Group, ...] = (
    lambda cols, w, day, ytd, window: _year_facts(cols, w, day, ytd),
    lambda cols, w, day, ytd, window: _term_facts(cols, w, day, window),
    lambda cols, w, day, ytd, window: _week_facts(cols, w, day, window),
    lambda cols, w, day, ytd, window: _day_facts(cols, day),
    lambda cols, w, day, ytd, window: _school_age(cols.counts, day),
)


def flow_fact_names(flow: Flow) -> frozenset[str]:
    """Every register fact the flow's compiled guards read."""
    guards = [*flow.guards.values(), *flow.entry.values()]
    guards += [g for criteria in flow.criteria.values() for _, g in criteria]
    return frozenset(n for g in guards for n in g.names if n in REGISTER_FACTS)


class FlowFacts:
    """Facts of a day for some names only; which group gives which name is learnt from the
    first day asked (every group computed once), so the groups' names are never listed twice."""

    def __init__(
        self,
        calendar_windows: DayWindows,
        names: Collection[str],
        *,
        min_possible_sessions_ytd: int,
        min_possible_sessions_window: int = DEFAULT_MIN_POSSIBLE_SESSIONS_WINDOW,
    ) -> None:
        self.windows = calendar_windows
        self.names = frozenset(names)
        self.min_ytd = min_possible_sessions_ytd
        self.min_window = min_possible_sessions_window
        self._chosen: tuple[Group, ...] | None = None  # None: not learnt yet
        self._everything = False  # a name no group here gives: every fact, every day

    def at(self, counts: CumulativeCounts, day: int) -> FactTable:
        """The facts named (at least) at the end of school day ``day``."""
        if self._everything:
            return self._all(counts, day)
        cols = _Columns(counts)
        args = (self.windows, day, self.min_ytd, self.min_window)
        values: dict[str, FloatArray] = {}
        if self._chosen is None:
            given = [group(cols, *args) for group in _GROUPS]
            known = {name for part in given for name in part}
            if not self.names <= known:
                self._everything = True
                return self._all(counts, day)
            self._chosen = tuple(g for g, part in zip(_GROUPS, given, strict=True) if self.names & part.keys())
            for part in given:
                values.update(part)
        else:
            for group in self._chosen:
                values.update(group(cols, *args))
        calendar = counts.calendar
        return FactTable(
            school=counts.grid.school,
            pupils=counts.grid.pupils,
            day_index=day,
            as_of=calendar.school_days[day],
            values={name: values[name] for name in REGISTER_FACTS if name in values},
        )

    def _all(self, counts: CumulativeCounts, day: int) -> FactTable:
        return facts_from_counts(
            counts,
            day,
            min_possible_sessions_ytd=self.min_ytd,
            min_possible_sessions_window=self.min_window,
            windows=self.windows,
        )


def _school_age(counts: CumulativeCounts, day: int) -> dict[str, FloatArray]:
    """``compulsory_school_age`` as ``facts_from_counts`` computes it."""
    enrolment = counts.grid.enrolment
    ordinal = counts.calendar.school_days[day].toordinal()
    inside: np.ndarray = (enrolment.school_age_from <= ordinal) & (
        ordinal <= enrolment.school_age_until
    )
    return {"compulsory_school_age": _flag(inside)}
