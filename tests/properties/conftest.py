"""Hypothesis profiles for the property tests.

- ``ci`` (chosen when ``CI`` is set, as ``.ci/run`` runs): derandomized, so a run gives the same
  examples on every machine and a red CI is a real defect anyone can reproduce; enough examples
  per property and flow to mean something.
- ``dev`` (the default locally): random examples, so each local run explores new registers.
- ``deep``: ``HYPOTHESIS_PROFILE=deep scripts/test tests/properties`` for a long exploration.

No profile keeps an example database: the worktree stays clean, and a failure prints its
example (``print_blob``) to paste into an ``@example`` or a pinned test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", derandomize=True, max_examples=30, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", max_examples=15, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("deep", max_examples=300, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
