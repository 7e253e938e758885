"""The default ``import marks`` (sealed) of the benchmark trust's year, as a trust runs it (issue 13).

Each import is the command itself (``escalation-flow import marks FILE``) in a process of its
own, into a database migrated beforehand (not timed); the process's own peak RSS, user and
system CPU come from ``os.wait4``, so the memory is the import's alone.

- ``import_marks.pyarrow_read``: ``pyarrow.csv.read_csv`` of the same file, in a process of its
  own too: the floor every import figure is a ratio of.
- ``import_marks.sqlite_sealed``: into a new SQLite file (floor 500,000 marks/s, goal 1M/s).
- ``import_marks.sqlite_no_seal``: the same with ``--no-seal`` (what the seal costs).
- ``import_marks.postgres_sealed``: into a new PostgreSQL database (floor 300,000 marks/s, goal
  1M/s), when ``ESCALATION_FLOW_BENCH_POSTGRES_URL`` or ``ESCALATION_FLOW_TEST_POSTGRES_URL``
  names a server (its database is the admin one: a database is created and dropped per run).
  The targets table's only PostgreSQL import figure. Before each run (not timed) the server is
  asked for a ``CHECKPOINT``, so that a run does not pay for writing out the one before it (a
  year is a 1 GB table and more WAL than the default ``max_wal_size``): each starts from the
  same quiet server.

An in-process timing of ``read_marks`` and ``Store.import_marks`` (``pg_import``, removed)
measured something else: no interpreter start, imports or trust file (about 2 s here), one run
on a quiet server, and, calling ``import_marks`` without ``seal=True``, an import not sealed.

Extra figures: marks/s, CPU seconds (user + system) and marks per CPU second (the machine is
shared: the wall clock waits for other work, CPU time does not), and the process's peak RSS
against the floor (1.5 GiB) and goal (1 GiB).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import BenchContext, Result

ORDER = 5  # after csv_floor (0), before the sections that use the imported registers

FLOOR_SQLITE, FLOOR_POSTGRES, GOAL = 500_000, 300_000, 1_000_000
PEAK_FLOOR_MIB, PEAK_GOAL_MIB = 1536, 1024
_PYARROW = (
    "import sys, pyarrow.csv as c; t = c.read_csv(sys.argv[1]); "
    "assert t.num_rows == int(sys.argv[2]), t.num_rows"
)


def run(ctx: BenchContext) -> list[Result]:
    runs = max(1, ctx.runs)
    floor = _timed(
        "import_marks.pyarrow_read",
        [sys.executable, "-c", _PYARROW, str(ctx.marks_csv), str(ctx.marks)],
        None,
        runs,
        ctx,
    )
    results = [floor]
    base = ("import_marks.pyarrow_read", floor.median_s)
    with tempfile.TemporaryDirectory(dir=ctx.data_dir) as scratch:
        for name, extra_args in (("sqlite_sealed", ()), ("sqlite_no_seal", ("--no-seal",))):
            db = Path(scratch) / "import.sqlite"
            url = f"sqlite:///{db}"

            def fresh(db: Path = db, url: str = url) -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                _cli(ctx, url, "db", "upgrade")

            results.append(
                _import(ctx, f"import_marks.{name}", url, fresh, extra_args, FLOOR_SQLITE, base,
                        runs if name == "sqlite_sealed" else 1)
            )  # fmt: skip
    admin = os.environ.get("ESCALATION_FLOW_BENCH_POSTGRES_URL") or os.environ.get(
        "ESCALATION_FLOW_TEST_POSTGRES_URL"
    )
    if admin:
        results.append(_postgres(ctx, admin, runs, base))
    else:
        print("import_marks: no PostgreSQL URL set; skipping import_marks.postgres_sealed")
    return results


def _postgres(ctx: BenchContext, admin: str, runs: int, base: tuple[str, float]) -> Result:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")

    def fresh() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
            _checkpoint(conn)
        _cli(ctx, url, "db", "upgrade")

    try:
        return _import(
            ctx, "import_marks.postgres_sealed", url, fresh, (), FLOOR_POSTGRES, base, runs
        )
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


def _checkpoint(conn: Any) -> None:
    """The last run's pages and WAL written out now, not during the next run (``CHECKPOINT``
    needs a superuser or ``pg_checkpoint``: without, the runs are as before)."""
    import sqlalchemy as sa

    try:
        conn.exec_driver_sql("CHECKPOINT")
    except sa.exc.DBAPIError as exc:
        print(f"import_marks: no CHECKPOINT between runs ({exc.orig})")


def _import(
    ctx: BenchContext,
    name: str,
    url: str,
    fresh: Callable[[], None],
    extra_args: tuple[str, ...],
    floor: int,
    base: tuple[str, float],
    runs: int,
) -> Result:
    command = [
        str(_bin(ctx)), "import", "marks", str(ctx.marks_csv), "--trust", str(ctx.trust_file),
        "--by", "bench", *extra_args,
    ]  # fmt: skip
    return _timed(name, command, url, runs, ctx, fresh=fresh, floor=floor, base=base)


def _timed(
    name: str,
    command: list[str],
    url: str | None,
    runs: int,
    ctx: BenchContext,
    *,
    fresh: Callable[[], None] | None = None,
    floor: int | None = None,
    base: tuple[str, float] | None = None,
) -> Result:
    walls, cpus, peaks = [], [], []
    for _ in range(runs):
        if fresh is not None:
            fresh()
        wall, cpu, peak = _child(command, _env(ctx, url))
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(peak)
    cpu = statistics.median(cpus)
    extra = {
        "cpu s": cpu,
        "marks/cpu-s": ctx.marks / cpu,
        "peak MiB": max(peaks),
        "peak floor MiB": PEAK_FLOOR_MIB,
        "peak goal MiB": PEAK_GOAL_MIB,
    }
    if floor is not None:
        extra["goal s"] = ctx.marks / GOAL
    result = Result.of(
        name,
        walls,
        rates={"marks/s": float(ctx.marks)},
        extra=extra,
        target_s=None if floor is None else ctx.marks / floor,
        baseline=base,
    )
    print(
        f"   {name}: median {result.median_s:.1f} s wall, {cpu:.1f} CPU-s, "
        f"peak {max(peaks):.0f} MiB ({', '.join(f'{w:.1f}' for w in walls)} s)",
        flush=True,
    )
    return result


def _child(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``command``; its wall seconds, CPU seconds (user + system) and peak RSS in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed (exit {process.returncode})")
    peak = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return wall, usage.ru_utime + usage.ru_stime, peak


def _cli(ctx: BenchContext, url: str, *args: str) -> None:
    subprocess.run(
        [str(_bin(ctx)), *args], env=_env(ctx, url), check=True, stdout=subprocess.DEVNULL
    )


def _bin(ctx: BenchContext) -> Path:
    return Path(sys.executable).with_name("escalation-flow")


def _env(ctx: BenchContext, url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ESCALATION_FLOW_TRUST_FILE": str(ctx.trust_file),
            "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        }
    )
    if url is not None:
        env["ESCALATION_FLOW_DATABASE_URL"] = url
    return env
