"""One service fixture, every store: the same test body runs on the memory store, on SQLite and
on PostgreSQL (when ``ESCALATION_FLOW_TEST_POSTGRES_URL`` names a server; skipped, saying so,
otherwise).

Each store starts from the small trust of ``tests/daemon_builders`` (one school on the Leigh
Academy Oaks plan, four pupils, its first eight school days imported and evaluated), built once
per module and store and copied for each test. The service is built by the composition root
(``Root(clock).build_service``) on a ``SimulatedClock`` handed in. (``build_service`` is
annotated with the SQL ``Store``, whose engine the daemon and the pages reach through
``service.store``; the use cases need only ``ports.ServiceStore``, which ``MemoryStore``
implements: ``adapters.memory.service_store`` has ``mypy --strict`` check it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from escalation_flow.adapters.memory import MemoryStore
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.service import Service
from tests.daemon_builders import (
    DAYS,
    HEADER,
    PUPILS,
    SCHOOL,
    built_state,
    clone,
    evening_clock,
    local,
    run_days,
    write_trust,
)
from tests.staff_builders import add_staff

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass
class World:
    """A service on one store after the eighth school day, its clock, and the store's own
    ways of being looked at (the audit log is not read through the service)."""

    backend: str
    store: Any  # MemoryStore or Store: the service takes either through its ports
    trust: Trust
    clock: SimulatedClock
    folder: Path
    service: Service

    def another(self, worker: str, store: Any = None) -> Service:
        """A second service on the same store (another worker), or on ``store`` (a wrapper)."""
        return Root(self.clock).build_service(store or self.store, self.trust, worker=worker)

    def import_register(self, day: date, morning: dict[str, str]) -> None:
        """That day's register, imported at 17:00 London: each pupil's morning code as given
        (present by default), present every afternoon."""
        rows = [HEADER]
        for pupil in PUPILS:
            am = morning.get(pupil, "/")
            rows.append(f"{SCHOOL},{pupil},{day},AM,{am},,{local(day, 9, 5).isoformat()}")
            rows.append(f"{SCHOOL},{pupil},{day},PM,\\,,{local(day, 13, 10).isoformat()}")
        path = self.folder / f"register-{day}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        self.clock.set(local(day, 17))
        result = read_marks(path, self.trust.calendars(), aliases=self.trust.aliases)
        self.store.import_marks(result, file=path, now=self.clock.now(), by="test")

    def audit_actions(self) -> list[str]:
        """The staff audit log's actions, oldest first."""
        if isinstance(self.store, MemoryStore):
            return [entry.action for entry in self.store.audit_entries()]
        with self.store.engine.connect() as conn:
            query = sa.text("SELECT action FROM audit_log ORDER BY id")
            return [str(a) for a in conn.execute(query).scalars()]


def memory_state(folder: Path) -> MemoryStore:
    """A memory store after the eight school days (``built_state``'s, in memory)."""
    store = MemoryStore()
    trust = load_trust(write_trust(folder))
    clock = SimulatedClock(local(DAYS[0], 8))
    store.upsert_schools(trust)
    run_days(Root(clock).build_service(store, trust, worker="builder"), clock, folder, DAYS)
    return store


#: Who the tests name as acting (the service refuses anyone not on its staff).
STAFF = ("s.head", "s.one", "s.two", "test")


@pytest.fixture(scope="module", params=BACKENDS)
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    """The eight school days, once per store: a memory store, or a database's URL."""
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"service-{backend}")
    if backend != "memory":
        for url in built_state(backend, folder):
            add_staff(url, *STAFF)  # the service refuses actions by anyone not on its staff
            yield backend, url
        return
    yield backend, memory_state(folder)


@pytest.fixture
def world(template: tuple[str, Any], tmp_path: Path) -> Iterator[World]:
    backend, held = template
    clock = evening_clock()
    trust = load_trust(write_trust(tmp_path / "trust"))
    root = Root(clock)
    if isinstance(held, MemoryStore):
        store = held.clone()
        service = root.build_service(store, trust, worker="test")
        yield World(backend, store, trust, clock, tmp_path, service)
        return
    for url in clone(held, tmp_path):
        sql = Store(url)
        try:
            service = root.build_service(sql, trust, worker="test")
            yield World(backend, sql, trust, clock, tmp_path, service)
        finally:
            sql.dispose()
