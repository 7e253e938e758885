"""The service's family facts, on every store (memory, SQLite, PostgreSQL): each school's evening
keeps what it left (first write kept), and every evening, timer and staff action of day D reads
the other schools' latest evenings before D recorded before it began; so two schools' evenings in
either order decide the same, a sibling's case opened on D counts on D+1, a forced re-run cannot
change what another school read, and the audit's replay reads the same rows and agrees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from escalation_flow.adapters.contact_files import read_contacts
from escalation_flow.adapters.memory import MemoryStore
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.bootstrap import Root
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.family_facts import SchoolEvening
from escalation_flow.service import Service
from tests.daemon_builders import ROOT, _admin, local, postgres_admin_url

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PUPILS = {"elms": ("B1", "B2"), "oaks": ("A1", "A2")}
DAYS = (date(2025, 9, 3), date(2025, 9, 4), date(2025, 9, 5))
GUARD = 'when: "unauthorised_sessions_this_half_term >= 1"'
MARKS = "school,pupil,date,session,code,minutes_late,recorded_at"
CONTACTS = "school,pupil,contact,name,relationship,parental_responsibility,recorded_at"


def write_trust(folder: Path) -> Path:
    """Two schools on the Oaks plan with one more way into stage two: a sibling anywhere in
    the trust has an open case."""
    flow = (ROOT / "flows" / "leigh-academy-oaks.yaml").read_text(encoding="utf-8")
    assert GUARD in flow
    family_flow = folder / "family-oaks.yaml"
    family_flow.write_text(
        flow.replace(GUARD, GUARD[:-1] + ' or siblings_with_open_cases >= 1"', 1),
        encoding="utf-8",
    )
    calendars = ROOT / "config" / "calendars"
    schools = "".join(
        f"""  - id: {key}
    name: {key.title()} Test Academy
    urn: "{urn}"
    flow: {family_flow}
    calendars: [{calendars / "england-2025-26.yaml"}]
    address: ["1 {key.title()} Lane", "Town TT1 1AA"]
    phone: "01234 567 890"
    email: office@{key}.example.sch.uk
    attendance_contact: {{name: Mrs A. Test, role: Attendance Lead}}
    signatory: {{name: Mr B. Test, role: Head Teacher}}
"""
        for key, urn in (("oaks", "990001"), ("elms", "990002"))
    )
    path = folder / "trust.yaml"
    path.write_text(f"name: test-trust\ntimezone: Europe/London\nschools:\n{schools}")
    return path


class Trial:
    """A service on one store over the two-school trust, its clock, and its files."""

    def __init__(self, store: Any, trust: Trust, folder: Path) -> None:
        self.store = store
        self.trust = trust
        self.folder = folder
        self.clock = SimulatedClock(local(date(2025, 9, 1), 9))
        self.service: Service = Root(self.clock).build_service(store, trust, worker="test")
        store.upsert_schools(trust)

    def contacts(self, lines: list[str]) -> None:
        path = self.folder / f"contacts-{uuid.uuid4().hex[:6]}.csv"
        path.write_text("\n".join([CONTACTS, *lines]) + "\n", encoding="utf-8")
        result = read_contacts(path, set(self.trust.schools), now=self.clock.now())
        self.store.import_contacts(result, now=self.clock.now(), by="test")

    def marks(self, day: date, absent: frozenset[str], at: datetime | None = None) -> None:
        """That day's register: the ``absent`` pupils N in the morning, everyone else present."""
        rows = [MARKS]
        for school, pupils in PUPILS.items():
            for pupil in pupils:
                am = "N" if pupil in absent else "/"
                am_at = (at or local(day, 9, 5)).isoformat()
                rows.append(f"{school},{pupil},{day},AM,{am},,{am_at}")
                rows.append(f"{school},{pupil},{day},PM,/,,{local(day, 13, 10).isoformat()}")
        path = self.folder / f"marks-{day}-{uuid.uuid4().hex[:6]}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        result = read_marks(path, self.trust.calendars(), aliases=self.trust.aliases)
        self.store.import_marks(result, file=path, now=self.clock.now(), by="test")

    def day(self, day: date, order: tuple[str, ...], absent: frozenset[str] = frozenset()) -> None:
        """The register imported at 17:00, then each school's evening at 18:00 in ``order``."""
        self.clock.set(local(day, 17))
        self.marks(day, absent)
        self.clock.set(local(day, 18))
        for school in order:
            self.service.run_day(school, day)

    def opened(self) -> dict[tuple[str, str], date]:
        """Each pupil's case: the day it was opened."""
        out: dict[tuple[str, str], date] = {}
        with self.store.read() as tx:
            for school, pupils in PUPILS.items():
                sid = tx.school_id(school)
                for pupil in pupils:
                    row = tx.case_row(sid, pupil)
                    if row is not None:
                        history = tx.history(int(row.id))
                        out[(school, pupil)] = next(
                            h.on for h in history if h.type == "case_opened"
                        )
        return out

    def histories(self) -> dict[tuple[str, str], list[tuple[date, str, str]]]:
        """Every case's records (day, type, body): what was decided, not when it was written."""
        out: dict[tuple[str, str], list[tuple[date, str, str]]] = {}
        with self.store.read() as tx:
            for school, pupils in PUPILS.items():
                sid = tx.school_id(school)
                for pupil in pupils:
                    row = tx.case_row(sid, pupil)
                    if row is not None:
                        out[(school, pupil)] = [
                            (h.on, h.type, h.body) for h in tx.history(int(row.id))
                        ]
        return out

    def evenings(self, before: date) -> dict[str, SchoolEvening]:
        with self.store.read() as tx:
            return {e.school: e for e in tx.family_evenings(before, local(before, 23))}


@pytest.fixture(params=BACKENDS)
def trial(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Trial]:
    trust = load_trust(write_trust(tmp_path))
    backend: str = request.param
    if backend == "memory":
        yield Trial(MemoryStore(), trust, tmp_path)
        return
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'family.sqlite'}"
    else:
        admin = postgres_admin_url()
        name = f"ef_family_{uuid.uuid4().hex[:10]}"
        with _admin(admin) as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    try:
        store.migrate()
        yield Trial(store, trust, tmp_path)
    finally:
        store.dispose()
        if backend == "postgresql":
            with _admin(postgres_admin_url()) as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")


def siblings(trial: Trial) -> None:
    """A1 (Oaks) and B1 (Elms) share their mother; A2 and B2 their father."""
    recorded = local(date(2025, 9, 1), 8).isoformat()
    trial.contacts(
        [
            f"oaks,A1,M1,Ann Smith,mother,yes,{recorded}",
            f"elms,B1,M1,Ann Smith,mother,yes,{recorded}",
            f"oaks,A2,F2,Bob Jones,father,yes,{recorded}",
            f"elms,B2,F2,Bob Jones,father,yes,{recorded}",
        ]
    )


def run_three_days(trial: Trial, order: tuple[str, ...]) -> None:
    siblings(trial)
    trial.day(DAYS[0], order, frozenset({"A1"}))
    trial.day(DAYS[1], order)
    trial.day(DAYS[2], order)


@pytest.mark.parametrize("order", [("oaks", "elms"), ("elms", "oaks")])
def test_a_siblings_case_opened_on_a_day_counts_at_the_other_school_the_next(
    trial: Trial, order: tuple[str, ...]
) -> None:
    run_three_days(trial, order)
    # A1's unexplained absence opens their case on the 3rd; B1 has been at school every day,
    # and is brought in by their sibling's case on the 4th: the 3rd read no Oaks evening
    assert trial.opened() == {("oaks", "A1"): DAYS[0], ("elms", "B1"): DAYS[1]}


def test_two_schools_evenings_in_either_order_decide_the_same(trial: Trial, tmp_path: Path) -> None:
    run_three_days(trial, ("oaks", "elms"))
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    other = Trial(MemoryStore(), trial.trust, other_folder)
    run_three_days(other, ("elms", "oaks"))
    assert trial.histories() == other.histories()
    assert trial.histories()  # decisions were made, B1's from the family fact among them


def test_a_forced_rerun_of_an_evening_does_not_change_what_the_other_school_reads(
    trial: Trial,
) -> None:
    siblings(trial)
    trial.day(DAYS[0], ("oaks", "elms"), frozenset({"A1"}))
    kept = trial.evenings(DAYS[1])["oaks"]
    # A2's morning is amended to N after the evening; Oaks's evening is run again
    trial.clock.set(local(DAYS[0], 18, 20))
    trial.marks(DAYS[0], frozenset({"A1", "A2"}), at=local(DAYS[0], 18, 20))
    trial.clock.set(local(DAYS[0], 18, 30))
    trial.service.run_day("oaks", DAYS[0], force=True)
    assert ("oaks", "A2") in trial.opened()  # the re-run decided otherwise for its own pupils
    again = trial.evenings(DAYS[1])["oaks"]
    assert (again.pupils, list(again.open_case)) == (kept.pupils, list(kept.open_case))
    assert kept.pupils == ("A1",)
    trial.day(DAYS[1], ("oaks", "elms"))
    trial.day(DAYS[2], ("oaks", "elms"))
    opened = trial.opened()
    # B2 counts A2's case from Oaks's evening of the 4th, not from the re-run of the 3rd
    assert opened[("elms", "B1")] == DAYS[1]
    assert opened[("elms", "B2")] == DAYS[2]


def test_an_evening_before_any_other_reads_the_facts_across_schools_as_unknown(
    trial: Trial,
) -> None:
    siblings(trial)
    trial.day(DAYS[0], ("oaks", "elms"), frozenset({"A1"}))
    with trial.store.read() as tx:
        assert tx.family_evenings(DAYS[0], local(DAYS[0], 23)) == []
    evenings = trial.evenings(DAYS[1])
    assert sorted(evenings) == ["elms", "oaks"]  # an evening with no rows is still kept
    assert evenings["elms"].pupils == ()
    assert bool(evenings["oaks"].open_case[0]) and evenings["oaks"].pupils == ("A1",)
    # read before the evenings of the 3rd were recorded: none
    with trial.store.read() as tx:
        assert tx.family_evenings(DAYS[1], local(DAYS[0], 17)) == []


def test_replay_and_audit_verify_agree_after_a_run_that_used_the_family_facts(
    trial: Trial,
) -> None:
    if isinstance(trial.store, MemoryStore):
        pytest.skip("the audit reads a database (SQLite or PostgreSQL)")
    from escalation_flow.audit import casework
    from escalation_flow.audit.inputs import AuditSource
    from escalation_flow.audit.replay import replay_case
    from escalation_flow.audit.store_check import verify_store

    run_three_days(trial, ("elms", "oaks"))
    trial.clock.set(local(DAYS[2], 20))
    source = AuditSource(trial.store, trial.trust)
    for school in ("oaks", "elms"):
        result = casework.replay_school(source, school)
        assert result.cases >= 1
        assert result.agrees, (school, result.differing, result.missing)
    assert verify_store(trial.store.engine).ok
    # B1's opening follows only from the family fact: without it the replay would not agree
    case = source.case("elms", "B1")
    assert replay_case(case.replay_inputs()).agrees
    blind = replace_family(case.replay_inputs())
    assert not replay_case(blind).agrees


def replace_family(inputs: Any) -> Any:
    import dataclasses

    return dataclasses.replace(inputs, family=None)


def test_a_staff_action_or_timer_on_a_day_reads_the_evenings_before_it_began(
    trial: Trial,
) -> None:
    """What a timer or a staff action decides on reads the snapshot of its own day at its own
    instant: in the morning of the 4th, Oaks's evening of the 3rd (A1's case open)."""
    from escalation_flow.service.family_evenings import family_if_read

    siblings(trial)
    trial.day(DAYS[0], ("oaks", "elms"), frozenset({"A1"}))
    ctx = trial.service.ctx
    setup = ctx.setup("elms")
    day = setup.calendar.day_index(DAYS[1])

    def siblings_open(at: datetime) -> list[float]:
        with trial.store.read() as tx:
            facts = family_if_read(ctx, tx, setup, ("B1", "B2"), day, at)
        assert facts is not None  # the flow names a family fact
        return list(facts["siblings_with_open_cases"])

    assert siblings_open(local(DAYS[1], 10)) == [1.0, 0.0]
    assert siblings_open(local(DAYS[0], 17)) == [0.0, 0.0]  # before the 3rd's evenings ran


EDITS = {
    "evening_edited": ["UPDATE family_evening_pupils SET open_case = NOT open_case"],
    "evening_deleted": [
        "DELETE FROM family_evening_pupils",
        "DELETE FROM family_evenings WHERE school_id = (SELECT id FROM schools WHERE key = 'oaks')",
    ],
    "evening_added": [
        "INSERT INTO family_evenings (school_id, day, recorded_at) "
        "SELECT school_id, '2025-09-02', recorded_at FROM family_evenings WHERE id = 1"
    ],
}


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_audit_verify_names_a_family_evening_changed_behind_the_services_back(
    trial: Trial, kind: str
) -> None:
    if isinstance(trial.store, MemoryStore):
        pytest.skip("audit verify reads a database (SQLite or PostgreSQL)")
    from escalation_flow.audit.store_check import verify_store

    siblings(trial)
    trial.day(DAYS[0], ("oaks", "elms"), frozenset({"A1"}))
    assert verify_store(trial.store.engine).ok
    with trial.store.engine.begin() as conn:
        for statement in EDITS[kind]:
            conn.exec_driver_sql(statement)
    named = {(b.where, b.kind) for b in verify_store(trial.store.engine).breaches}
    where = (
        "family evening oaks 2025-09-02"
        if kind == "evening_added"
        else ("family evening oaks 2025-09-03")
    )
    assert (where, kind) in named
