"""The register helper process imports what its reads need, not the store (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future

import pytest

from escalation_flow.adapters.store import marks_reader
from escalation_flow.adapters.store.engine import create_store_engine
from escalation_flow.adapters.store.marks_reader import _conninfo

_LOADED = (
    "import sys; import escalation_flow.adapters.store.register_helper as r; r.ready('postgresql');"
    "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')"
    " or m == 'escalation_flow.adapters.store.store')))"
)


def test_a_postgresql_helper_imports_neither_sqlalchemy_nor_the_store() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == []


def test_the_helpers_connection_carries_the_stores_server_options() -> None:
    engine = create_store_engine("postgresql+psycopg://staff:pw@db.example:5433/trust")
    assert _conninfo(engine) == (
        "options='-c jit=off' host=db.example dbname=trust user=staff password=pw port=5433"
    )


def test_options_given_in_the_url_win_over_the_stores() -> None:
    engine = create_store_engine("postgresql+psycopg://staff@db/trust?options=-c%20work_mem%3D64MB")
    assert "options='-c work_mem=64MB'" in (_conninfo(engine) or "")
    assert "jit" not in (_conninfo(engine) or "")


def test_a_sqlite_store_gives_its_helper_no_connection_string() -> None:
    assert _conninfo(create_store_engine("sqlite://")) is None


class _Pool:
    """A stand-in for the helper pool: what was shut down."""

    def __init__(self) -> None:
        self.shut = False

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shut = True


def test_a_job_of_a_pool_already_replaced_leaves_the_new_pool_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two readers meet a broken pool: the first has made a new one; the second's job, of the
    # old pool, must not shut down the new pool (its jobs would be cancelled under the first)
    old, new = _Pool(), _Pool()
    job_of_old: Future[int] = Future()
    monkeypatch.setitem(marks_reader._pools, job_of_old, old)
    monkeypatch.setattr(marks_reader, "_helper", new)
    marks_reader._forget_helper(job_of_old)
    assert marks_reader._helper is new and not new.shut
    job_of_new: Future[int] = Future()
    monkeypatch.setitem(marks_reader._pools, job_of_new, new)
    marks_reader._forget_helper(job_of_new)
    assert marks_reader._helper is None and new.shut
