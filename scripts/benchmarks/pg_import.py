"""The default (sealed) ``import marks`` on PostgreSQL: the marks CSV read and imported into a
new database (issue 13's floor 300,000 marks/s, goal 1M/s); baseline: reading the CSV.

Runs when ESCALATION_FLOW_BENCH_POSTGRES_URL (or ESCALATION_FLOW_TEST_POSTGRES_URL) names a
reachable server; otherwise says "skipped: no PostgreSQL" and reports nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from benchmarks import BenchContext, Result
from benchmarks.daemon_day import _Databases
from escalation_flow.adapters.register_files import read_marks
from escalation_flow.adapters.store import Store
from escalation_flow.adapters.trust_files import load_trust

ORDER = 55


def run(ctx: BenchContext) -> list[Result]:
    try:
        databases = _Databases("postgresql", ctx.data_dir)
    except RuntimeError as exc:
        print(f"pg_import: {exc}")
        return []
    trust = load_trust(ctx.trust_file)
    samples: list[float] = []
    with databases:
        for _ in range(max(1, ctx.runs // 3)):
            url = databases.new()
            store = Store(url)
            store.migrate()
            store.upsert_schools(trust)
            started = time.perf_counter()
            result = read_marks(ctx.marks_csv, trust.calendars(), aliases=trust.aliases)
            store.import_marks(result, file=ctx.marks_csv, now=datetime.now(UTC), by="bench")
            samples.append(time.perf_counter() - started)
            store.dispose()
            databases.drop(url)
    return [
        Result.of(
            "pg_import.import_postgresql",
            samples,
            rates={"marks/s": float(ctx.marks)},
            target_s=ctx.marks / 300_000,
            baseline=("csv_floor.csv_module", ctx.baselines.get("csv_floor.csv_module")),
        )
    ]
