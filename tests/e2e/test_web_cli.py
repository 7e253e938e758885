"""``escalation-flow users ...``: staff accounts set up from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from escalation_flow.adapters.store import Store
from escalation_flow.adapters.store.staff_store import StaffStore
from escalation_flow.cli import main
from escalation_flow.web.passwords import verify_password

TRUST = Path(__file__).resolve().parents[2] / "config" / "sample-trust" / "trust.yaml"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ef.sqlite'}"
    store = Store(url)
    store.migrate()
    store.dispose()
    monkeypatch.setenv("ESCALATION_FLOW_DATABASE_URL", url)
    monkeypatch.setenv("ESCALATION_FLOW_TRUST_FILE", str(TRUST))
    return url


def _run(*args: str, password: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=password)
    return result.exit_code, result.output


def test_users_are_added_with_roles_per_school_and_listed(database: str) -> None:
    code, out = _run(
        "users", "add", "jo", "--name", "Jo Evans", "--role", "class_teacher",
        "--school", "school-01", "--school", "100002", "--year-group", "3",
        "--password-stdin", password="a long passphrase\n",
    )  # fmt: skip
    assert code == 0, out
    assert "Class teacher at school-01 (years 3)" in out and "school-02" in out
    assert _run("users", "add", "trust", "--name", "Tru", "--role", "attendance_team",
                "--password-stdin", password="another long one\n")[0] == 0  # fmt: skip
    code, out = _run("users", "list")
    assert code == 0
    assert "jo" in out and "Trust attendance team, every school" in out
    store = Store(database)
    try:
        record = StaffStore(store.engine).by_username("jo")
    finally:
        store.dispose()
    assert record is not None and verify_password(record.password_hash, "a long passphrase")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "wizard", "--school", "school-01"), "not one of"),
        (("--role", "class_teacher", "--school", "school-01"), "year groups"),
        (("--role", "attendance_lead"), "give --school"),
        (("--role", "admin_staff", "--school", "nowhere"), "no school 'nowhere'"),
        (("--role", "admin_staff", "--school", "school-01", "--year-group", "3"), "only class"),
    ],
)
def test_a_member_of_staff_who_cannot_be_added_is_refused_with_the_reason(
    database: str, args: tuple[str, ...], message: str
) -> None:
    code, out = _run("users", "add", "x", "--name", "X", *args, "--password-stdin",
                     password="a long passphrase\n")  # fmt: skip
    assert code == 2
    assert message in out


def test_a_short_password_is_refused(database: str) -> None:
    code, out = _run("users", "add", "x", "--name", "X", "--role", "admin_staff", "--school",
                     "school-01", "--password-stdin", password="short\n")  # fmt: skip
    assert code == 2 and "at least 10 characters" in out
