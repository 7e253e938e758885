"""The letter page shows the whole letter: each printed page as a picture (``pdftoppm``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_web_security import _open_task
from tests.e2e.web_client import login, pages
from tests.e2e.web_world import World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


@pytest.mark.needs_program("pdftoppm")
def test_the_letter_page_shows_every_printed_page_as_a_picture(
    world: World, client: TestClient
) -> None:
    letter = _open_task(world, "school-01", kind="letter").letter_id
    assert login(client, "lead") == 303
    page = client.get(f"/letters/{letter}").text
    shown = re.findall(rf'src="/letters/{letter}/page-(\d+)\.png"', page)
    assert shown and shown == [str(i) for i in range(1, len(shown) + 1)]
    assert "letter-frame" not in page  # no frame cutting the letter at its height
    image = client.get(f"/letters/{letter}/page-1.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert client.get(f"/letters/{letter}/page-{len(shown) + 1}.png").status_code == 404
    assert login(client, "lead3") == 303  # another school's attendance lead
    assert client.get(f"/letters/{letter}/page-1.png").status_code == 404
