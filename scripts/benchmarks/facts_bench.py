"""Time register facts for a big school: one day, every day, the timeline, the plain loop.

    .venv/bin/python scripts/benchmarks/facts_bench.py [--pupils 20000] [--repeat 5]

Random codes on the bundled 2025-26 calendar (190 school days, 380 sessions). Prints medians.
Not a test: timings depend on the machine.

As a section of ``scripts/bench.py`` (``run``), on as many pupils as the benchmark trust has:
``facts_bench.one_day`` (the last day's facts, its counts built for it: what an evening asks)
and ``facts_bench.every_day`` (every fact for every school day of the year on one grid), each
against issue 13's floor, with its goal beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from escalation_flow.adapters.calendar_files import load_calendar
from escalation_flow.core.codes import CODE_OF_ID
from escalation_flow.core.facts import facts_as_of, facts_for_all_days
from escalation_flow.core.marks import MarkTable, to_micros
from escalation_flow.core.register import (
    AssumeRecordedAtEndOfDay,
    RegisterGrid,
    enrolment_of,
    register_as_known_at,
)
from escalation_flow.core.timeline import KnownAtTimeline

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, too
from benchmarks import BenchContext, Result, measure
from reference_facts import reference_facts

ROOT = Path(__file__).resolve().parents[2]

MIN_YTD = 10


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """Median wall time; CPU time is printed beside it (other work on the machine inflates wall)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(f"  [cpu median {statistics.median(cpus):.3f} s]", end=" ")
    return statistics.median(walls)


def random_marks(n_pupils: int, calendar_days: list[datetime], seed: int = 0) -> MarkTable:
    """Every session marked once on its day, and 1% of them amended a few days later."""
    rng = np.random.default_rng(seed)
    n_sessions = 2 * len(calendar_days)
    pupil = np.repeat(np.arange(n_pupils, dtype=np.int32), n_sessions)
    session = np.tile(np.arange(n_sessions, dtype=np.int32), n_pupils)
    day_noon = np.array([to_micros(d) for d in calendar_days], dtype=np.int64)
    recorded = day_noon[session // 2]
    amended = rng.random(pupil.size) < 0.01
    pupil = np.concatenate([pupil, pupil[amended]])
    session = np.concatenate([session, session[amended]])
    recorded = np.concatenate([recorded, recorded[amended] + 3 * 86_400_000_000])
    code = rng.integers(1, len(CODE_OF_ID), pupil.size).astype(np.int8)
    return MarkTable(
        school="bench",
        pupils=tuple(f"P{i:05d}" for i in range(n_pupils)),
        pupil=pupil,
        session=session,
        code=code,
        recorded_at=recorded,
        minutes_late=np.full(pupil.size, -1, np.int16),
    )


def run(ctx: BenchContext) -> list[Result]:
    calendar = load_calendar(ROOT / "config/calendars/england-2025-26.yaml")
    n = ctx.schools * ctx.pupils_per_school
    rng = np.random.default_rng(1)
    codes = rng.integers(0, len(CODE_OF_ID), (n, calendar.n_sessions)).astype(np.int8)
    pupils = tuple(f"P{i:05d}" for i in range(n))
    grid = RegisterGrid("bench", pupils, codes, enrolment_of(pupils, calendar, None))
    last = calendar.n_days - 1

    def one_day() -> None:
        facts_as_of(grid, calendar, last, min_possible_sessions_ytd=MIN_YTD)

    def every_day() -> None:
        for _ in facts_for_all_days(grid, calendar, min_possible_sessions_ytd=MIN_YTD):
            pass

    size = {"pupils": float(n), "school days": float(calendar.n_days)}
    return [
        Result.of(
            "facts_bench.one_day",
            measure(one_day, max(ctx.runs, 5)),
            extra={**size, "goal s": 0.02},
            target_s=0.05,
        ),
        Result.of(
            "facts_bench.every_day",
            measure(every_day, ctx.runs),
            rates={"pupil-days/s": float(n * calendar.n_days)},
            extra={**size, "goal s": 0.3},
            target_s=1.0,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    calendar = load_calendar(ROOT / "config/calendars/england-2025-26.yaml")
    rng = np.random.default_rng(1)
    codes = rng.integers(0, len(CODE_OF_ID), (args.pupils, calendar.n_sessions)).astype(np.int8)
    pupils = tuple(f"P{i:05d}" for i in range(args.pupils))
    grid = RegisterGrid("bench", pupils, codes, enrolment_of(pupils, calendar, None))
    last = calendar.n_days - 1
    print(f"{args.pupils} pupils x {calendar.n_sessions} sessions ({calendar.n_days} days)")

    one_day = median_seconds(
        lambda: facts_as_of(grid, calendar, last, min_possible_sessions_ytd=MIN_YTD), args.repeat
    )
    print(f"one day (the last, counts built for it): median {one_day:.3f} s")

    def all_days() -> None:
        for _ in facts_for_all_days(grid, calendar, min_possible_sessions_ytd=MIN_YTD):
            pass

    every = median_seconds(all_days, max(1, args.repeat // 2))
    print(f"all {calendar.n_days} days, fixed grid: median {every:.3f} s")

    noon = [
        datetime.combine(d, datetime.min.time(), UTC) + timedelta(hours=12)
        for d in calendar.school_days
    ]
    marks = random_marks(args.pupils, noon)
    build = median_seconds(
        lambda: register_as_known_at(
            marks, calendar, known_at=None, unknown_recorded_at=AssumeRecordedAtEndOfDay()
        ),
        max(1, args.repeat // 2),
    )
    print(f"grid from {len(marks):,} mark rows (1% amended): median {build:.3f} s")

    setup = median_seconds(
        lambda: KnownAtTimeline(marks, calendar, unknown_recorded_at=AssumeRecordedAtEndOfDay()),
        max(1, args.repeat // 2),
    )
    print(f"known-at timeline set-up: median {setup:.3f} s")

    def timeline() -> None:
        tl = KnownAtTimeline(marks, calendar, unknown_recorded_at=AssumeRecordedAtEndOfDay())
        for _ in tl.steps():
            tl.facts(min_possible_sessions_ytd=MIN_YTD)

    replay = median_seconds(timeline, max(1, args.repeat // 2))
    print(f"known-at timeline, every day stepped with facts (incl. set-up): median {replay:.3f} s")

    sample = 50
    start = time.perf_counter()
    for p in range(sample):
        reference_facts(list(codes[p]), calendar, last, min_possible_sessions_ytd=MIN_YTD)
    per_pupil = (time.perf_counter() - start) / sample
    print(
        f"plain Python loop, one day: {per_pupil * 1000:.1f} ms a pupil, "
        f"~{per_pupil * args.pupils:.0f} s for {args.pupils} pupils (extrapolated)"
    )


if __name__ == "__main__":
    main()
