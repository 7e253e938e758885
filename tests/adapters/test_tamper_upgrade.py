"""A database written by the release before checkpoints and recorded seals (a694365) upgrades,
verifies and takes a checkpoint with today's code. The database is a fixture made by
``tests/data/make_release_db.py`` with that release's own code and sample trust."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.audit.checkpoint import FORMAT
from escalation_flow.cli import main

RELEASE_DB = Path(__file__).resolve().parents[1] / "data" / "release-a694365.sqlite.gz"


@pytest.fixture
def upgraded(tmp_path: Path) -> dict[str, str]:
    db = tmp_path / "release.sqlite"
    with gzip.open(RELEASE_DB, "rb") as packed, db.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    env = {
        "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{db}",
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        "DB_FILE": str(db),
    }
    result = run(env, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return env


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def query(env: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(env["DB_FILE"])) as conn:
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows


def test_the_release_database_verifies_after_db_upgrade(upgraded: dict[str, str]) -> None:
    result = run(upgraded, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("OK:")
    # its back-fill, imported --no-seal and never sealed, is recorded as such by the upgrade
    assert "import 3 (" in result.stdout and "imported --no-seal) is not sealed yet" in result.stdout
    kinds = query(upgraded, "SELECT id, kind, seal FROM imports ORDER BY id")
    assert kinds == [(1, "roster", None), (2, "marks", "sealed"), (3, "marks", "no_seal")]


def test_the_release_database_takes_a_checkpoint_and_verifies_against_it(
    upgraded: dict[str, str], tmp_path: Path
) -> None:
    kept = tmp_path / "checkpoint.json"
    assert run(upgraded, "audit", "checkpoint", "--out", str(kept)).exit_code == 0
    document = json.loads(kept.read_text(encoding="utf-8"))
    assert document["format"] == FORMAT and len(document["cases"]) > 5
    assert any(t[1] == "done" for t in document["tasks"].values())
    assert run(upgraded, "audit", "verify", "--against", str(kept)).exit_code == 0
    query(upgraded, "UPDATE tasks SET completed_by = 'mallory' WHERE status = 'done'")
    result = run(upgraded, "audit", "verify", "--against", str(kept))
    assert result.exit_code == 1 and "task_edited" in result.stdout


def test_a_seal_the_release_made_then_deleted_fails_verify(upgraded: dict[str, str]) -> None:
    query(upgraded, "DELETE FROM mark_seals WHERE import_id = 2 AND school_id = 1")
    result = run(upgraded, "audit", "verify")
    assert result.exit_code == 1
    assert "seal_missing: import 2:" in result.stdout and "sealed at import" in result.stdout
    assert run(upgraded, "audit", "seal").exit_code == 2  # refused: it would seal over an edit


# -- chain format 1 (main at c03cf29) upgraded to format 2 ----------------------------------------

FORMAT1_DB = RELEASE_DB.with_name("format1-c03cf29.sqlite.gz")
FORMAT1_CHECKPOINT = RELEASE_DB.with_name("format1-c03cf29.checkpoint.json")


@pytest.fixture
def format1(tmp_path: Path) -> dict[str, str]:
    """The database main wrote at c03cf29 (``tests/data/make_format1_db.py``), upgraded."""
    db = tmp_path / "format1.sqlite"
    with gzip.open(FORMAT1_DB, "rb") as packed, db.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    env = {
        "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{db}",
        "ESCALATION_FLOW_LOG_FORMAT": "json",
        "ESCALATION_FLOW_LOG_LEVEL": "WARNING",
        "DB_FILE": str(db),
    }
    result = run(env, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return env


def test_a_format_1_database_upgrades_its_letters_completions_and_audit_log_into_the_chain(
    format1: dict[str, str],
) -> None:
    kinds = {k for (k,) in query(format1, "SELECT DISTINCT kind FROM chain_records")}
    assert kinds == {
        "letter_prepared", "letter_rendered", "letter_approved", "task_completed", "audit_entry"
    }  # fmt: skip
    result = run(format1, "audit", "verify")
    assert result.exit_code == 0, result.output
    # the checkpoint an auditor kept before the upgrade (format 1) still verifies
    result = run(format1, "audit", "verify", "--against", str(FORMAT1_CHECKPOINT))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "change, named",
    [
        ("UPDATE letters SET html = html || ' ' WHERE approved_by IS NOT NULL", "letter_edited"),
        ("UPDATE letters SET pdf = X'00' WHERE pdf IS NOT NULL", "letter_edited"),
        ("UPDATE tasks SET completed_by = 'mallory' WHERE case_id IS NOT NULL "
         "AND status = 'done'", "task_edited"),
        ("UPDATE tasks SET note = 'no answer' WHERE case_id IS NULL AND status = 'done'",
         "task_edited"),
        ("UPDATE audit_log SET detail = 'nothing' WHERE id = 1", "audit_edited"),
        ("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)", "audit_deleted"),
    ],
)  # fmt: skip
def test_after_the_upgrade_verify_alone_names_an_edit_main_could_not_see(
    format1: dict[str, str], change: str, named: str
) -> None:
    query(format1, change)
    result = run(format1, "audit", "verify")
    assert result.exit_code == 1
    assert f": {named}: " in result.stdout, result.stdout


def test_the_upgrade_then_new_records_chain_on(format1: dict[str, str], tmp_path: Path) -> None:
    kept = tmp_path / "checkpoint.json"
    assert run(format1, "audit", "checkpoint", "--out", str(kept)).exit_code == 0
    document = json.loads(kept.read_text(encoding="utf-8"))
    assert document["format"] == 3 and document["chain_format"] == 2
    assert any(chain.startswith("case:") for chain in document["records"])
    query(format1, "DELETE FROM chain_records WHERE id = (SELECT max(id) FROM chain_records)")
    result = run(format1, "audit", "verify", "--against", str(kept))
    assert result.exit_code == 1 and "truncated" in result.stdout
