"""Shared test set-up: tests that need a system program skip, saying which package adds it,
when the program is not installed (a fresh machine runs the rest of the suite)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

#: Each optional system program: the Debian package that brings it, and what it is used for.
PROGRAMS = {
    "dot": ("graphviz", "drawing the plans' diagrams"),
    "chromium": ("chromium", "driving the staff pages in a real browser"),
    "pdftoppm": ("poppler-utils", "turning PDF pages into images"),
    "pdftotext": ("poppler-utils", "reading the words of a PDF"),
}


def require_program(name: str) -> str:
    """The path of system program ``name``; the calling test skips, saying why, without it."""
    found = shutil.which(name)
    if found is None:
        package, use = PROGRAMS.get(name, (name, "this test"))
        pytest.skip(f"{name} is not installed (apt-get install {package}; needed for {use})")
    return found


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_program"):
        for name in mark.args:
            require_program(name)


@pytest.fixture(scope="session", autouse=True)
def _register_files_kept_out_of_home() -> Iterator[None]:
    """A PostgreSQL daemon's default folder of register files is the state directory
    (``register_snapshots.default_dir``): the suite's daemons, its subprocesses too, keep theirs
    in a temporary one, not in the home folder of whoever runs the tests."""
    before = {k: os.environ.pop(k, None) for k in ("STATE_DIRECTORY", "XDG_STATE_HOME")}
    with tempfile.TemporaryDirectory(prefix="ef-test-state-") as state:
        os.environ["XDG_STATE_HOME"] = state
        try:
            yield
        finally:
            os.environ.pop("XDG_STATE_HOME", None)
            os.environ.update({k: v for k, v in before.items() if v is not None})
