"""The inbox against files a careless or hostile user leaves there: a symbolic link to a secret,
a pipe, a field of two megabytes. Nothing is read through a link, the reasons are private, and
no message quotes more than the start of a bad value (issue 14, item 3)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from escalation_flow.cli import main
from tests.burst_builders import Burst, build_burst
from tests.daemon_builders import SCHOOL
from tests.e2e.daemon_processes import count, reap

HEADER = "school,pupil,date,session,code,minutes_late,recorded_at"


@pytest.fixture(autouse=True)
def _no_daemon_left_running() -> Iterator[None]:
    yield
    reap()


@pytest.fixture
def burst(tmp_path: Path) -> Burst:
    return build_burst(f"sqlite:///{tmp_path / 'store.sqlite'}", tmp_path, 3)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def once(burst: Burst, folder: Path) -> Result:
    env = {
        "ESCALATION_FLOW_DATABASE_URL": burst.url,
        "ESCALATION_FLOW_TRUST_FILE": str(burst.trust),
        "ESCALATION_FLOW_INBOX_DIR": str(folder / "inbox"),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
    }
    for path in (folder / "inbox").iterdir():  # written a minute ago: settled
        if path.is_file() and not path.is_symlink():
            os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))
    return CliRunner().invoke(main, ["daemon", "--once", "--catch-up-days", "0"], env=env)


def marks_imports(url: str) -> int:
    return count(url, "SELECT count(*) FROM imports WHERE kind = 'marks'")


def test_a_symbolic_link_is_rejected_unread_and_its_target_never_reaches_the_reasons(
    burst: Burst, inbox: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRET-HASH:19000:0:99999:7:::\n", encoding="utf-8")
    (inbox / "marks.csv").symlink_to(secret)

    result = once(burst, tmp_path)

    assert result.exit_code == 0, result.output
    moved = inbox / "rejected" / "marks.csv"
    assert moved.is_symlink()  # moved as a link, the secret untouched
    assert secret.read_text(encoding="utf-8").startswith("root:")
    reasons = inbox / "rejected" / "marks.csv.reasons.txt"
    text = reasons.read_text(encoding="utf-8")
    assert "symbolic link" in text
    assert "SECRET" not in text and "SECRET" not in result.output + result.stderr
    assert stat.S_IMODE(reasons.stat().st_mode) == 0o600
    assert marks_imports(burst.url) == 0


def test_a_pipe_named_like_a_csv_is_rejected_without_being_opened(
    burst: Burst, inbox: Path, tmp_path: Path
) -> None:
    os.mkfifo(inbox / "pipe.csv")  # opening it to read would block the daemon for ever

    result = once(burst, tmp_path)

    assert result.exit_code == 0, result.output
    moved = inbox / "rejected" / "pipe.csv"
    assert stat.S_ISFIFO(moved.lstat().st_mode)
    assert "not a regular file" in (inbox / "rejected" / "pipe.csv.reasons.txt").read_text("utf-8")


def test_a_huge_bad_value_is_quoted_only_by_its_start_in_a_private_reasons_file(
    burst: Burst, inbox: Path, tmp_path: Path
) -> None:
    huge = "Q" * 2_000_000
    rows = [HEADER, f"{SCHOOL},B00001,2025-10-14,AM,{huge},,", f"{SCHOOL},B00001,{huge},PM,/,,"]
    (inbox / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = once(burst, tmp_path)

    assert result.exit_code == 0, result.output
    reasons = inbox / "rejected" / "big.csv.reasons.txt"
    text = reasons.read_text(encoding="utf-8")
    assert "big.csv:2: code: 'QQQQ" in text and "big.csv:3: date: 'QQQQ" in text
    assert len(text) < 2_000
    assert len(result.output + result.stderr) < 20_000
    assert stat.S_IMODE(reasons.stat().st_mode) == 0o600
