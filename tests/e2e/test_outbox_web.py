"""The letter page says where each household's copy of an approved letter stands (queued for
email, for the post, ...), by the household's names, never their addresses."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.e2e.web_client import csrf, login, pages
from tests.e2e.web_world import World, new_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return new_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with pages(world) as c:
        yield c


def test_the_letter_page_shows_each_households_copy_once_the_letter_is_queued(
    world: World, client: TestClient
) -> None:
    service = world.service()
    try:
        letter_id = next(
            t.letter_id for t in service.tasks(school="school-01") if t.kind == "letter"
        )
        assert letter_id is not None
        assert login(client, "lead") == 303
        before = client.get(f"/letters/{letter_id}").text
        assert "deliveries" not in before  # nothing queued before approval
        token = csrf(client, f"/letters/{letter_id}")
        client.post(f"/letters/{letter_id}/approve", data={"csrf_token": token})
        service.outbox.queue()
        lines = [d.words for d in service.outbox.deliveries(letter_id)]
        rows = service.outbox.outbox.rows(letter=letter_id)
    finally:
        service.store.dispose()
    assert lines
    page = client.get(f"/letters/{letter_id}").text
    for words in lines:
        assert html.escape(words) in page
    for row in rows:  # names, not addresses
        assert not [e for e in json.loads(row.emails) if e in page]
