"""A real OpenID provider for the sign-in tests: panva's ``oidc-provider`` on Node.js, configured
by ``tests/oidc_provider/provider.mjs`` and started here on 127.0.0.1.

``npm ci`` fills ``tests/oidc_provider/node_modules`` once when it is missing (``.ci/run`` does it
first); the tests skip, saying why, when Node.js or npm is absent or the install fails (offline).
``sign_in`` drives the authorisation code flow as a browser would, with httpx against the
provider and the pages' TestClient against the service.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx2 as httpx
import pytest
from joserfc.jwk import RSAKey
from starlette.testclient import TestClient

from tests.e2e.web_world import ROOT

PROVIDER_DIR = ROOT / "tests" / "oidc_provider"
CLIENT_ID = "escalation-flow"
CLIENT_SECRET = "a test secret, never anyone's, long enough"
APP_BASE = "https://testserver"
ACCOUNT_PASSWORD = "provider-password"

#: Who can sign in at the test provider, and what their ID tokens say. ``alex`` is the world's
#: ``lead`` (email given in another case: matched case-insensitively); ``impostor`` claims the
#: same verified email under another subject; ``unverified`` claims ``head``'s email unverified.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alex": {"email": "Alex.Morgan@School-01.example", "email_verified": True},
    "jo": {"email": "jo.evans@school-01.example", "email_verified": True},
    "impostor": {"email": "alex.morgan@school-01.example", "email_verified": True},
    "unverified": {"email": "chris.taylor@school-01.example", "email_verified": False},
    "stranger": {"email": "stranger@elsewhere.example", "email_verified": True},
}
#: The world's staff and the emails the trust gave them.
STAFF_EMAILS = {
    "lead": "alex.morgan@school-01.example",
    "teacher": "jo.evans@school-01.example",
    "head": "chris.taylor@school-01.example",
}


def node_ready() -> None:
    """Skip, saying why, unless Node.js, npm and the provider's packages are there."""
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Node.js 20+ runs the test OpenID provider)")
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"npm ci in tests/oidc_provider failed (offline?): {done.stderr[-300:]}")


def new_key(kid: str) -> dict[str, Any]:
    """A private RSA signing key as a JWK."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return dict(key.as_dict(private=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Provider:
    """The provider process; ``restart`` with other keys is how it rotates them."""

    port: int
    keys: list[dict[str, Any]]
    redirect_uri: str = f"{APP_BASE}/login/sso/callback"
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "PORT": str(self.port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URI": self.redirect_uri,
            "JWKS": json.dumps({"keys": self.keys}),
            "ACCOUNTS": json.dumps(
                {k: {"password": ACCOUNT_PASSWORD, "claims": v} for k, v in ACCOUNTS.items()}
            ),
        }
        self.process = subprocess.Popen(
            ["node", "provider.mjs"],
            cwd=PROVIDER_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready ISSUER", or "" if it died
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError("the test OpenID provider did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self, keys: list[dict[str, Any]]) -> None:
        self.stop()
        self.keys = keys
        deadline = time.monotonic() + 10
        while True:  # the old process's port may take a moment to come free
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def next_id_token(self, **change: Any) -> None:
        """The next token response's ID token altered (claims, exp_offset, key)."""
        answer = httpx.post(f"{self.issuer}/__test__/next-id-token", content=json.dumps(change))
        assert answer.status_code == 204

    def settings(self) -> dict[str, object]:
        """The pages' settings for signing in here."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_redirect_base": APP_BASE,
        }


@contextmanager
def running_provider() -> Iterator[Provider]:
    node_ready()
    provider = Provider(free_port(), [new_key("key-1")])
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def callback_url(app: TestClient, account: str, next_path: str = "/tasks") -> str:
    """Start a sign-in at the pages and sign in as ``account`` at the provider: the URL the
    provider sends the browser back to (not yet followed)."""
    start = app.get(f"/login/sso?next={next_path}")
    assert start.status_code == 303, start.text[:300]
    location = start.headers["location"]
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        for _ in range(10):
            if location.startswith(APP_BASE):
                return location
            answer = browser.get(location)
            if answer.status_code == 200:  # the provider's sign-in form
                answer = browser.post(
                    location, data={"account": account, "password": ACCOUNT_PASSWORD}
                )
            assert answer.is_redirect, answer.text[:300]
            location = urljoin(location, answer.headers["location"])
    raise AssertionError("the provider never sent the browser back")


def sign_in(app: TestClient, account: str, next_path: str = "/tasks") -> httpx.Response:
    """The pages' answer to the provider's redirect after ``account`` signed in."""
    response: httpx.Response = app.get(callback_url(app, account, next_path))
    return response
