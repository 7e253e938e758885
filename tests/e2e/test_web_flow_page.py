"""The flow page on a machine without Graphviz: the plan in words and as Mermaid text, and the
diagram's own address says why there is no picture, never a 500 with a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.web_client import login, pages
from tests.e2e.web_world import new_world

FLOW = "/schools/school-01/flow"


def test_without_graphviz_the_flow_page_shows_the_plan_as_mermaid_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = new_world(tmp_path)
    empty = tmp_path / "no-programs"
    empty.mkdir()
    with pages(world) as client:
        assert login(client, "lead") == 303
        monkeypatch.setenv("PATH", str(empty))  # dot is nowhere to be found
        assert shutil.which("dot") is None

        page = client.get(FLOW)
        assert page.status_code == 200
        assert "Graphviz (the dot program) is not installed" in page.text
        assert "flowchart TD" in page.text
        assert 'src="/schools/school-01/flow.svg"' not in page.text

        svg = client.get(FLOW + ".svg")
        assert svg.status_code == 503
        assert "Graphviz (the dot program) is not installed" in svg.text
        assert "Traceback" not in svg.text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_with_graphviz_the_flow_page_shows_the_diagram(tmp_path: Path) -> None:
    with pages(new_world(tmp_path)) as client:
        assert login(client, "lead") == 303
        page = client.get(FLOW)
        assert 'src="/schools/school-01/flow.svg"' in page.text
        assert "flowchart TD" not in page.text
        svg = client.get(FLOW + ".svg")
        assert svg.status_code == 200
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.content.lstrip().startswith(b"<?xml") or b"<svg" in svg.content[:500]
