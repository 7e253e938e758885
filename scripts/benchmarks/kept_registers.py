"""A school's register read by the daemon the evening after a day's import: whole (what the
register helper does for each school each evening) against kept in memory (issue 13).

Set-up, not timed: the trust's marks up to a spring day imported into SQLite (and PostgreSQL when
configured); a store that keeps registers has read every school once; then the day's marks file
is imported. Timed, per school, in CPU seconds of this process (the load of a shared machine
moves wall-clock figures several-fold; CPU seconds much less):

- ``kept_registers.whole_<db>``: the helper's work for one school: every mark read back (ADBC on
  SQLite, ``COPY`` on PostgreSQL), decoded, and the grid built (``register_helper.read``).
- ``kept_registers.kept_<db>``: ``RegisterReader.read`` on the store that keeps registers: the
  new import's rows only, merged in, and the grid built.
"""

from __future__ import annotations

import time
from datetime import timedelta

from benchmarks import BenchContext, Result
from benchmarks import daemon_day as dd
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store import marks_reader as mr
from escalation_flow.adapters.store import register_helper as rh
from escalation_flow.adapters.store.kept_registers import kept_sql
from escalation_flow.adapters.store.marks_io import load_sql
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.logs import configure_logging

ORDER = 61


def run(ctx: BenchContext) -> list[Result]:
    configure_logging("json", "ERROR")
    work = ctx.data_dir / "daemon_day"
    work.mkdir(exist_ok=True)
    trust = load_trust(ctx.trust_file)
    day = dd._the_day(trust, ctx)
    before, today = dd._split(ctx.marks_csv, day, work)
    results: list[Result] = []
    for backend in ("sqlite", "postgresql"):
        try:
            databases = dd._Databases(backend, work)
        except RuntimeError as exc:
            print(f"kept_registers: {backend}: {exc}")
            continue
        with databases:
            url = databases.new()
            dd._import_base(url, trust, before, ctx.roster_csv, day)
            results += _one_backend(ctx, url, backend, trust, day, today)
    return results


def _one_backend(ctx: BenchContext, url: str, name: str, trust, day, today) -> list[Result]:  # type: ignore[no-untyped-def]
    calendars = trust.calendars()
    schools = sorted(trust.schools)
    kept = Store(url)
    kept.keep_registers()
    evening = dd._local(day, 18)
    with kept.register_reader() as reader:  # the daemon's first evening: read whole, kept
        for school in schools:
            reader.read(school, calendars[school], evening - timedelta(days=1))
    kept.import_marks(
        read_marks(today, calendars, aliases=trust.aliases), file=today, now=evening, by="bench"
    )
    whole_s, kept_s = [], []
    plain = Store(url)
    for school in schools:
        job = _helper_job(plain, school, calendars[school], evening)
        # in the helper process, as the daemon does (ADBC must not share this process's SQLite)
        seconds, whole = mr._executor().submit(_timed_read, job).result()
        whole_s.append(seconds)
        with kept.register_reader() as reader:
            started = time.process_time()
            got = reader.read(school, calendars[school], evening)
            kept_s.append(time.process_time() - started)
        assert (got.grid.codes == whole.grid.codes).all(), school
    plain.dispose()
    kept.dispose()
    per_school = ctx.marks / ctx.schools
    return [
        Result.of(f"kept_registers.whole_{name}", whole_s, rates={"marks/s": per_school}),
        Result.of(
            f"kept_registers.kept_{name}",
            kept_s,
            rates={"marks/s": per_school},
            baseline=(f"kept_registers.whole_{name}", _median(whole_s)),
        ),
    ]


def _helper_job(store: Store, school: str, calendar, known_at) -> rh.Job:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        sid = mr._school_id(conn, school)
        names = mr._names(conn, sid)
    path = mr.sqlite_path(store.engine.url) if store.engine.dialect.name == "sqlite" else None
    dialect = store.engine.dialect.name
    return rh.Job(
        path=str(path) if path is not None else None,
        url=None if path is not None else store.engine.url.render_as_string(hide_password=False),
        conninfo=mr._conninfo(store.engine),
        marks_sql=load_sql(dialect, sid, calendar.first_day, calendar.last_day)
        if path is not None
        else kept_sql(dialect, sid, calendar),
        amended_sql=None,
        school=school,
        calendar=calendar,
        names=names,
        roster=store.load_roster(school),
        known_at=known_at,
    )


def _timed_read(job: rh.Job) -> tuple[float, mr.SchoolRead]:
    started = time.process_time()
    read = rh.read(job)
    return time.process_time() - started, read


def _median(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[len(ordered) // 2]
