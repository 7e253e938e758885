"""Driving the staff pages through Starlette's TestClient, as a browser would (forms, cookies)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient

from escalation_flow.adapters.store import Store
from escalation_flow.bootstrap import page_backend
from escalation_flow.web import create_app
from escalation_flow.web.settings import WebSettings
from tests.e2e.web_world import PASSWORD, TODAY, World

_TOKEN = re.compile(r'name="(csrf_token|login_token)" value="([^"]+)"')


@contextmanager
def pages(world: World, *, https: bool = True, **settings: object) -> Iterator[TestClient]:
    """A client on a fresh application over the world's database."""
    store = Store(world.url)
    service = world.service(store)
    app = create_app(lambda: page_backend(service), WebSettings(today=TODAY, **settings))  # type: ignore[arg-type]
    base = "https://testserver" if https else "http://testserver"
    try:
        with TestClient(app, base_url=base, follow_redirects=False) as client:
            yield client
    finally:
        store.dispose()


def token(html: str, name: str = "csrf_token") -> str:
    for found, value in _TOKEN.findall(html):
        if found == name:
            return str(value)
    raise AssertionError(f"no {name} in the page")


def login(client: TestClient, username: str, password: str = PASSWORD) -> int:
    """Log in through the form; the response's status (303 on success)."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "login_token": token(page.text, "login_token"),
            "username": username,
            "password": password,
            "next": "/tasks",
        },
    )
    return response.status_code


def csrf(client: TestClient, path: str = "/tasks") -> str:
    """The session's CSRF token, read from a page's forms."""
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    return token(page.text)
