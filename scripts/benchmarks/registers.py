"""Registers and facts on the benchmark trust (issue: registers and facts).

- ``registers.import_sqlite``: the marks CSV read and imported into a new SQLite file
  (target: at least 300,000 marks/s); baseline: merely reading the CSV (``csv_floor``).
- ``registers.load_sqlite``: a year of the trust's marks loaded back from SQLite (target 10 s).
- ``facts.one_day``: every register fact for every pupil of the trust as of one day, marks
  loaded (issue 13's floor, 0.05 s).
- ``facts.all_days``: every fact for every school day of the year for every pupil (issue 13's
  floor, 1 s).
- ``facts.naive_per_pupil_day``: a plain per-pupil, per-day Python loop on a sample, as seconds a
  pupil-day; the ratio column is how many times slower it is than ours.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import BenchContext, Result, measure
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.core.facts import facts_as_of, facts_for_all_days
from escalation_flow.core.register import AssumeRecordedAtEndOfDay, register_as_known_at

MIN_YTD = 30
NAIVE_SAMPLE = 20


def run(ctx: BenchContext) -> list[Result]:
    trust = load_trust(ctx.trust_file)
    calendars = trust.calendars()
    results: list[Result] = []

    with tempfile.TemporaryDirectory(dir=ctx.data_dir) as scratch:
        url = f"sqlite:///{Path(scratch) / 'bench.sqlite'}"

        def import_once() -> None:
            db = Path(scratch) / "bench.sqlite"
            db.unlink(missing_ok=True)
            store = Store(url)
            store.migrate()
            store.upsert_schools(trust)
            result = read_marks(ctx.marks_csv, calendars, aliases=trust.aliases)
            store.import_marks(result, file=ctx.marks_csv, now=datetime.now(UTC), by="bench")
            store.dispose()

        results.append(
            Result.of(
                "registers.import_sqlite",
                measure(import_once, max(1, ctx.runs // 3)),
                rates={"marks/s": float(ctx.marks)},
                target_s=ctx.marks / 300_000,
                baseline=("csv_floor.csv_module", ctx.baselines.get("csv_floor.csv_module")),
            )
        )
        store = Store(url)
        loaded: dict[str, object] = {}

        def load() -> None:
            loaded.update(store.load_trust_marks(calendars))

        results.append(
            Result.of(
                "registers.load_sqlite",
                measure(load, ctx.runs),
                rates={"marks/s": float(ctx.marks)},
                target_s=10.0,
            )
        )
        store.dispose()

    grids = {
        school: register_as_known_at(
            marks,  # type: ignore[arg-type]
            calendars[school],
            known_at=None,
            unknown_recorded_at=AssumeRecordedAtEndOfDay(),
        )
        for school, marks in loaded.items()
    }
    pupils = sum(g.n_pupils for g in grids.values())

    def one_day() -> None:
        for school, grid in grids.items():
            cal = calendars[school]
            facts_as_of(grid, cal, cal.n_days // 2 - 1, min_possible_sessions_ytd=MIN_YTD)

    day = Result.of(
        "facts.one_day", measure(one_day, ctx.runs), rates={"pupils/s": float(pupils)}, target_s=0.05
    )

    days_in_year = min(c.year_periods[0].last + 1 for c in calendars.values())

    def all_days() -> None:
        for school, grid in grids.items():
            cal = calendars[school]
            for _ in facts_for_all_days(
                grid, cal, min_possible_sessions_ytd=MIN_YTD, last_day=days_in_year - 1
            ):
                pass

    every = Result.of(
        "facts.all_days",
        measure(all_days, ctx.runs),
        rates={"pupil-days/s": float(pupils * days_in_year)},
        target_s=1.0,
    )
    ours_per_pupil_day = every.median_s / (pupils * days_in_year)
    naive = Result.of(
        "facts.naive_per_pupil_day",
        [_naive(grids, calendars, days_in_year)],
        extra={"ours s/pupil-day": ours_per_pupil_day},
        baseline=("facts.all_days per pupil-day", ours_per_pupil_day),
    )
    return [*results, day, every, naive]


def _naive(grids: dict, calendars: dict, days: int) -> float:  # type: ignore[type-arg]
    """Seconds a pupil-day for the plain loop: each pupil's facts from its codes, day by day."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from reference_facts import reference_facts

    school = sorted(grids)[0]
    grid, cal = grids[school], calendars[school]
    step = max(1, days // 19)  # twenty days across the year, spread
    sample_days = list(range(0, days, step))
    start = time.perf_counter()
    for p in range(NAIVE_SAMPLE):
        codes = [int(c) for c in grid.codes[p]]
        for d in sample_days:
            reference_facts(codes, cal, d, min_possible_sessions_ytd=MIN_YTD)
    return (time.perf_counter() - start) / (NAIVE_SAMPLE * len(sample_days))
