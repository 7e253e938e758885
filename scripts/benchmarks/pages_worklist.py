"""The staff pages at a trust's size: the worklist, search, export and bulk confirmation over
an autumn term with nothing completed (issue 15: "every page under 200 KB and 300 ms warm,
under 1 s on its first load after an import").

Set-up, not timed (kept in ``<data>/pages_worklist/`` for reruns): the registers up to the last
school day of the autumn term are imported with the roster, and every school's cases are
seeded as the backtest leaves them that evening with **no task completed** (so the open tasks
pile up as in the issue's measurement), then a trust attendance-team login and a school-01
attendance lead. Timed, through the application in-process (Starlette's TestClient, so the
figures are the server's work without a network):

- ``first_tasks``: the trust team's ``/tasks`` on a new application (flows read for the first
  time, every school's rows from the store, the pupils' names with them), as after a restart.
- ``tasks_trust`` / ``tasks_lead``: ``/tasks`` warm, the whole trust's or one school's.
- ``tasks_filtered``: one school, overdue only, sorted by pupil, page 3.
- ``search``: two letters of a name across every pupil of the trust.
- ``export_csv``: the trust team's whole worklist as CSV; ``bulk_confirm``: the confirmation of
  approving every letter waiting; ``school_dashboard`` and ``trust_dashboard`` warm (their
  first build is in the first of the runs).
- ``trust_dashboard_first`` / ``school_dashboard_first``: each on a new application, after the
  evening kept the schools' headline figures and the school pages' figures (set-up stands in for
  that evening, on code that keeps them; the school page's since migration 0021).
- ``tasks_after_import``: the trust team's ``/tasks`` after an import (every school's rows are
  built again from the store); ``tasks_after_completion``: after a task was completed or a
  letter approved at one school (that school's rows, and the trust team's list from the kept
  rows of the others).

Each figure carries the page's size in KB. Run inside ``scripts/bench.py`` (its trust), or on
any generated trust: ``python scripts/benchmarks/pages_worklist.py TRUST_DIR [--runs N]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import BenchContext, Result
from escalation_flow.adapters.register_files import read_marks, read_roster
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.case_writer import HistoryWriter, record_school_day
from escalation_flow.adapters.store.cases import school_id
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.adapters.trust_files import Trust, load_trust
from escalation_flow.backtest import Period, SchoolRun, run_school
from escalation_flow.clock import SimulatedClock
from escalation_flow.core.access import Grant
from escalation_flow.core.case import Case
from escalation_flow.core.definition import Role
from escalation_flow.logs import configure_logging
from escalation_flow.service import Service
from escalation_flow.stored import ENGINE, CaseChange, StoredCase
from escalation_flow.web.passwords import hash_password

LONDON = ZoneInfo("Europe/London")
PASSWORD = "bench-password-not-secret"
AUTUMN_END = date(2025, 12, 19)
WARM_TARGET_S = 0.3
FIRST_TARGET_S = 1.0
_COLUMNS = ("school", "pupil", "date", "session", "code", "minutes_late", "recorded_at")


def run(ctx: BenchContext) -> list[Result]:
    configure_logging("json", "ERROR")
    work = ctx.data_dir / "pages_worklist"
    work.mkdir(exist_ok=True)
    trust = load_trust(ctx.trust_file)
    day = _last_autumn_day(trust, ctx)
    db = work / f"pages-known-{day}.sqlite"
    if not db.exists():
        started = time.perf_counter()
        _build(db, trust, ctx, day, work)
        print(f"pages_worklist: built {db.name} in {time.perf_counter() - started:.0f} s")
    return _measure(f"sqlite:///{db}", trust, day, max(3, ctx.runs))


def _last_autumn_day(trust: Trust, ctx: BenchContext) -> date:
    """The last school day of every school on or before the end of the autumn term."""
    day = min(AUTUMN_END, date.fromisoformat(ctx.end))
    calendars = trust.calendars().values()
    while not all(c.is_school_day(day) for c in calendars):
        day -= timedelta(days=1)
    return day


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, clock_time(hour), tzinfo=LONDON).astimezone(UTC)


def _build(db: Path, trust: Trust, ctx: BenchContext, day: date, work: Path) -> None:
    marks = work / f"marks-known-{day}.csv"
    if not marks.exists():
        options = pv.ConvertOptions(column_types={c: pa.string() for c in _COLUMNS})
        table = pv.read_csv(ctx.marks_csv, convert_options=options)
        # The marks a trust holds that evening: of days to ``day``, recorded by then. A mark
        # recorded later (an N explained the next week) would make every register read "as
        # known" at the evening leave rows out, and its figures are then never kept (the
        # dashboards' first loads would count every school's register).
        text = table.column("recorded_at")
        recorded = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.timestamp("s", "UTC"))
        known = pc.fill_null(
            pc.less_equal(recorded, pa.scalar(_local(day, 17), pa.timestamp("s", "UTC"))), True
        )
        keep = pc.and_(pc.less_equal(table.column("date"), day.isoformat()), known)
        pv.write_csv(table.filter(keep), marks, pv.WriteOptions(quoting_style="needed"))
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store.upsert_schools(trust)
    now = _local(day, 17)
    store.import_marks(read_marks(marks, trust.calendars(), aliases=trust.aliases), file=marks,
                       now=now, by="bench")  # fmt: skip
    rosters = read_roster(ctx.roster_csv, set(trust.schools), aliases=trust.aliases)
    store.import_roster(rosters, file=ctx.roster_csv, now=now, by="bench")
    _seed_open_tasks(store, trust, day)
    staff = StaffStore(store.engine)
    secret = hash_password(PASSWORD)
    first = sorted(trust.schools)[0]
    staff.add_staff("trust", "Trust team", secret, (Grant(Role.ATTENDANCE_TEAM, None),), now)
    staff.add_staff("lead", "School lead", secret, (Grant(Role.ATTENDANCE_LEAD, first),), now)
    store.dispose()


def _seed_open_tasks(store: Store, trust: Trust, day: date) -> None:
    """Every school's cases as the backtest leaves them on ``day``, nothing completed."""
    service = Service(store, trust, SimulatedClock(_local(day, 8)), worker="seed")
    for school in service.schools():
        setup = service.setup(school)
        book = run_school(
            SchoolRun(school, setup.flow, setup.calendar, store.load_marks(school, setup.calendar),
                      store.load_roster(school), registers_close=setup.registers_close),
            Period(None, day),
            auto_complete=False,
        )  # fmt: skip
        changes = [
            CaseChange(StoredCase(None, Case(school, book.pupils[p])), history, book.cases[p],
                       ENGINE)
            for p, history in sorted(book.history.items())
        ]  # fmt: skip
        with store.engine.begin() as conn:
            sid = school_id(conn, school)
            HistoryWriter(conn, school_id=sid, school=school, flow=setup.flow.id,
                          flow_version=setup.flow.version, now=_local(day, 18),
                          worker="seed").write(changes)  # fmt: skip
            decisions = sum(len(c.decisions) for c in changes)
            record_school_day(conn, sid, day, _local(day, 18), decisions, "seed")


def _client(url: str, trust: Trust, day: date, username: str) -> tuple[Any, Store]:
    from starlette.testclient import TestClient

    from escalation_flow.bootstrap import page_backend
    from escalation_flow.web import create_app
    from escalation_flow.web.settings import WebSettings

    _as_after_a_restart()
    store = Store(url)
    service = Service(store, trust, SimulatedClock(_local(day, 19)), worker="bench")
    app = create_app(lambda: page_backend(service), WebSettings(today=day))
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    page = client.get("/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', page)
    assert token is not None
    login = {"login_token": token.group(1), "username": username, "password": PASSWORD,
             "next": "/tasks"}  # fmt: skip
    assert client.post("/login", data=login).status_code == 303
    return client, store


def _as_after_a_restart() -> None:
    """A new application parses its flows as a new process would (the loader keeps each
    file's parse for the process's life; code before it kept none)."""
    from escalation_flow.adapters import flow_files

    getattr(flow_files, "forget_parsed_flows", lambda: None)()


def _warmed_first(url: str, trust: Trust, day: date) -> list[Result]:
    """A start as ``serve`` makes it: the warm-up before READY=1 (timed on its own), then the
    trust team's first ``/tasks``. Nothing on code without a warm-up."""
    try:
        from escalation_flow.web.warm_up import warm_up
    except ImportError:
        return []
    client, store = _client(url, trust, day, "trust")
    started = time.perf_counter()
    warm_up(client.app.state.web)
    warming = time.perf_counter() - started
    took, size, _ = _timed(client, "/tasks")
    client.close()
    store.dispose()
    return [Result.of("pages_worklist.warm_up", [warming]),
            Result.of("pages_worklist.first_tasks_after_warm_up", [took],
                      extra={"KB": size / 1e3}, target_s=FIRST_TARGET_S)]  # fmt: skip


def _timed(client: Any, path: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    response = client.get(path)
    took = time.perf_counter() - started
    assert response.status_code == 200, (path, response.status_code)
    return took, len(response.content), response.text if "html" in response.headers.get(
        "content-type", "") else ""  # fmt: skip


def _keep_evening_figures(url: str, trust: Trust, day: date) -> None:
    """What the evening of ``day`` keeps for the dashboards (the seed runs no evening); nothing
    on code that keeps none (measured before it did). Set-up, not timed."""
    from escalation_flow.service.register import RegisterAsKnown

    store = Store(url)
    store.migrate()  # a database built by an earlier version
    now = _local(day, 18)
    service = Service(store, trust, SimulatedClock(now), worker="bench")
    desk = getattr(service, "figures", None)
    if desk is not None:
        stamp = desk.import_stamp()
        # the school page's figures beside the headline, on code that keeps them
        kept_page = getattr(desk, "kept_page", lambda school, key: True)
        for school in service.schools():
            setup = service.setup(school)
            index = setup.calendar.day_index(day)
            key = desk.key(setup, index, stamp)
            if not desk.kept({school: key}) or not kept_page(school, key):
                register = RegisterAsKnown.load(store, setup, now, index)
                desk.keep_evening(register, index, stamp)
    store.dispose()


def _first_dashboards(url: str, trust: Trust, day: date, school: str) -> list[Result]:
    """Each dashboard on a new application (nothing cached), as after a start or the evening
    after an import: the trust team's overview and one school's page."""
    results = []
    for name, path in (("trust_dashboard_first", "/trust"),
                       ("school_dashboard_first", f"/schools/{school}")):  # fmt: skip
        client, store = _client(url, trust, day, "trust")
        took, size, _ = _timed(client, path)
        results.append(Result.of(f"pages_worklist.{name}", [took], extra={"KB": size / 1e3},
                                 target_s=FIRST_TARGET_S))  # fmt: skip
        client.close()
        store.dispose()
    return results


def _measure(url: str, trust: Trust, day: date, runs: int) -> list[Result]:
    school = sorted(trust.schools)[0]
    _keep_evening_figures(url, trust, day)
    results = _first_dashboards(url, trust, day, school)
    results += _warmed_first(url, trust, day)
    client, store = _client(url, trust, day, "trust")
    first, size, html = _timed(client, "/tasks")
    count = re.search(r'id="match-count">([^<]*)<', html)
    print(f"pages_worklist {day}: trust team: {count.group(1) if count else '?'}")
    results.append(Result.of("pages_worklist.first_tasks", [first], extra={"KB": size / 1e3},
                             target_s=FIRST_TARGET_S))  # fmt: skip
    pages = {
        "tasks_trust": "/tasks",
        "tasks_filtered": f"/tasks?school={school}&overdue=1&sort=pupil&page=3",
        "search": "/search?q=ja",
        "export_csv": "/tasks/export.csv",
        "bulk_confirm": "/tasks/bulk?action=approve",
        # the dashboards beside them (engineer undo's pages), for the record
        "school_dashboard": f"/schools/{school}",
        "trust_dashboard": "/trust",
    }
    for name, path in pages.items():
        samples, size = [], 0
        for _ in range(runs):
            took, size, _ = _timed(client, path)
            samples.append(took)
        target = None if name == "export_csv" else WARM_TARGET_S
        results.append(Result.of(f"pages_worklist.{name}", samples, extra={"KB": size / 1e3},
                                 target_s=target))  # fmt: skip
    # after an import or any recorded change the worklist is built again from the store (the
    # flows and calendars stay read): dropping the pages' cache stands in for that change
    samples = []
    for _ in range(runs):
        client.app.state.web._cache.clear()
        client.app.state.web._stamped.clear()
        took, size, _ = _timed(client, "/tasks")
        samples.append(took)
    results.append(Result.of("pages_worklist.tasks_after_import", samples,
                             extra={"KB": size / 1e3}, target_s=FIRST_TARGET_S))  # fmt: skip
    # a completion or an approval at one school changes that school's stamp only: its rows and
    # every viewer's list are built again, the other schools' rows are kept
    samples = []
    kept = client.app.state.web._stamped
    for _ in range(runs):
        for key in [k for k in kept if k[0] == "work-scope" or k[1:2] == (school,)]:
            del kept[key]
        took, size, _ = _timed(client, "/tasks")
        samples.append(took)
    results.append(Result.of("pages_worklist.tasks_after_completion", samples,
                             extra={"KB": size / 1e3}, target_s=WARM_TARGET_S))  # fmt: skip
    client.close()
    store.dispose()
    lead, store = _client(url, trust, day, "lead")
    _timed(lead, "/tasks")
    samples = []
    for _ in range(runs):
        took, size, _ = _timed(lead, "/tasks")
        samples.append(took)
    results.append(Result.of("pages_worklist.tasks_lead", samples, extra={"KB": size / 1e3},
                             target_s=WARM_TARGET_S))  # fmt: skip
    lead.close()
    store.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the pages at size, on a generated trust")
    parser.add_argument("trust_dir", type=Path, help="a folder written by scripts/make_trust.py")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    folder = args.trust_dir.resolve()
    trust = load_trust(folder / "trust.yaml")
    schools = len(trust.schools)
    ctx = BenchContext(
        repo=Path(__file__).resolve().parents[2], data_dir=folder, trust_file=folder / "trust.yaml",
        marks_csv=folder / "marks.csv", roster_csv=folder / "roster.csv", schools=schools,
        pupils_per_school=0, marks=0, start="2025-09-03", end=AUTUMN_END.isoformat(),
        runs=args.runs, quick=False,
    )  # fmt: skip
    for r in run(ctx):
        verdict = "" if r.passed is None else ("  ok" if r.passed else "  OVER TARGET")
        print(
            f"{r.name:32} median {r.median_s * 1000:7.1f} ms  (min {r.min_s * 1000:.1f}, "
            f"max {r.max_s * 1000:.1f}, n={r.runs})  {r.extra.get('KB', 0):7.1f} KB{verdict}"
        )


if __name__ == "__main__":
    main()
