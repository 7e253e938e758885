"""A PostgreSQL store's connections run without JIT compiling (its statements never pay for it,
and a cost misestimated on a table without statistics compiled them), unless the URL's own
``options`` say otherwise."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from escalation_flow.adapters.store.engine import create_store_engine
from tests.daemon_builders import postgres_admin_url

pytestmark = pytest.mark.postgres


def _jit(url: str) -> str:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW jit").scalar())
    finally:
        engine.dispose()


def test_a_store_connection_does_not_jit_compile() -> None:
    assert _jit(postgres_admin_url()) == "off"


def test_options_in_the_url_are_kept_as_given() -> None:
    url = postgres_admin_url()
    joiner = "&" if "?" in url else "?"
    assert _jit(f"{url}{joiner}options={quote('-c jit=on')}") == "on"
