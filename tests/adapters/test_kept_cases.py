"""Open cases kept in memory between evenings (``Store.keep_registers``, the daemon's): every load
gives what the store's rows give, whoever wrote them, and only the rows that moved on since the
case was kept are decoded again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store, cases
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service
from escalation_flow.stored import OPEN, StoredCase
from tests.daemon_builders import (
    SCHOOL,
    built_state,
    clone,
    day_marks,
    evening_clock,
    evening_rows,
    local,
    write_trust,
)

MONDAY = date(2025, 9, 15)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from built_state(request.param, tmp_path_factory.mktemp(f"kept-{request.param}"))


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pupils whose snapshot was decoded, in order."""
    seen: list[str] = []
    real = cases.case_from_json

    def counting(text: str, school: str, pupil: str) -> Any:
        seen.append(pupil)
        return real(text, school, pupil)

    monkeypatch.setattr(cases, "case_from_json", counting)
    return seen


def _open_cases(store: Store) -> dict[str, StoredCase]:
    with store.read() as tx:
        return tx.load_cases(tx.school_id(SCHOOL), SCHOOL, status=OPEN)


def _kept_load(store: Store, decoded: list[str]) -> tuple[dict[str, StoredCase], list[str]]:
    """The open cases as the kept store loads them, and whose snapshots that load decoded."""
    decoded.clear()
    loaded = _open_cases(store)
    return loaded, list(decoded)


def _monday(service: Service, clock: SimulatedClock, folder: Path) -> None:
    """Another school day: its register imported at 17:00, the evening at 18:00."""
    clock.set(local(MONDAY, 17))
    path = day_marks(folder, MONDAY)
    result = read_marks(path, service.trust.calendars())
    service.store.import_marks(result, file=path, now=clock.now(), by="test")
    clock.set(local(MONDAY, 18))
    service.run_day(SCHOOL, MONDAY)


def _week(template: str, folder: Path, keep: bool) -> dict[str, list[tuple[Any, ...]]]:
    """Staff act in another process and through the daemon's own service, then an evening;
    what the store holds after it."""
    folder.mkdir()
    held: dict[str, list[tuple[Any, ...]]] = {}
    for url in clone(template, folder):
        clock = evening_clock()
        store, other = Store(url), Store(url)
        if keep:
            store.keep_registers()
        trust = load_trust(write_trust(folder / "trust"))
        service = Service(store, trust, clock, worker="test")
        pages = Service(other, trust, clock, worker="pages")
        try:
            _open_cases(store)  # the daemon's evening before: every open case read
            pages.override(SCHOOL, "P1", 3, "sibling concerns", by="s.head")
            service.override(SCHOOL, "P2", 0, "moved school", by="s.head")
            _monday(service, clock, folder)
            held = evening_rows(store)
        finally:
            store.dispose()
            other.dispose()
    return held


def test_a_week_of_a_daemon_that_keeps_cases_writes_the_history_one_that_reads_them_writes(
    template: str, tmp_path: Path
) -> None:
    plain = _week(template, tmp_path / "plain", keep=False)
    kept = _week(template, tmp_path / "kept", keep=True)
    assert plain["case_events"] and kept == plain


def test_only_the_cases_whose_row_moved_on_are_decoded_again(
    template: str, tmp_path: Path, decoded: list[str]
) -> None:
    for url in clone(template, tmp_path):
        clock = evening_clock()
        store, other = Store(url), Store(url)
        store.keep_registers()
        trust = load_trust(write_trust(tmp_path / "trust"))
        service = Service(store, trust, clock, worker="test")
        pages = Service(other, trust, clock, worker="pages")
        try:
            first = _open_cases(store)
            assert sorted(decoded) == sorted(first) and first == _open_cases(other)
            assert _kept_load(store, decoded) == (first, [])  # nothing moved on
            pages.override(SCHOOL, "P1", 3, "sibling concerns", by="s.head")  # another process
            assert _kept_load(store, decoded) == (_open_cases(other), ["P1"])
            service.override(SCHOOL, "P1", 2, "after the meeting", by="s.head")  # its own write
            now, again = _kept_load(store, decoded)
            assert (now, again) == (_open_cases(other), []) and now["P1"].case.stage == 2
        finally:
            store.dispose()
            other.dispose()
