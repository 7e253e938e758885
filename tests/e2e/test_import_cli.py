"""``escalation-flow db upgrade`` and ``import marks|roster`` as a user drives them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from escalation_flow.adapters.store.schema import head_revision
from escalation_flow.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "registers"
TRUST = DATA / "trust.yaml"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "ESCALATION_FLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'store.sqlite'}",
        "ESCALATION_FLOW_TRUST_FILE": str(TRUST),
        "ESCALATION_FLOW_LOG_FORMAT": "json",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def upgraded(env: dict[str, str]) -> dict[str, str]:
    result = run(env, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return env


def rows(env: dict[str, str], table: str) -> int:
    engine = sa.create_engine(env["ESCALATION_FLOW_DATABASE_URL"])
    with engine.connect() as conn:
        n = int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    engine.dispose()
    return n


def copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copy(DATA / name, tmp_path / name))


def test_db_upgrade_creates_the_database_and_can_run_again(env: dict[str, str]) -> None:
    first = run(env, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().endswith(f"schema at revision {head_revision()}")
    assert run(env, "db", "upgrade").exit_code == 0


def test_importing_marks_prints_a_summary_and_a_second_import_changes_nothing(
    env: dict[str, str],
) -> None:
    upgraded(env)
    marks = str(DATA / "marks.csv")
    first = run(env, "import", "marks", marks, "--by", "tester")
    assert first.exit_code == 0, first.output
    assert first.stdout == f"{marks}: 7 rows read, 7 imported, 0 already known, 0 rejected\n"
    again = run(env, "import", "marks", marks)
    assert again.stdout == f"{marks}: 7 rows read, 0 imported, 7 already known, 0 rejected\n"
    assert (rows(env, "marks"), rows(env, "imports"), rows(env, "schools")) == (7, 2, 2)


def test_an_import_is_sealed_so_verify_names_a_mark_edited_afterwards(
    env: dict[str, str],
) -> None:
    upgraded(env)
    assert run(env, "import", "marks", str(DATA / "marks.csv")).exit_code == 0
    assert rows(env, "mark_seals") == 2  # one seal per school of the file
    assert run(env, "audit", "verify").exit_code == 0
    engine = sa.create_engine(env["ESCALATION_FLOW_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE marks SET code = 'X' WHERE code = 'N'"))
    engine.dispose()
    result = run(env, "audit", "verify")
    assert result.exit_code == 1
    assert "mark_edited" in result.stdout


def test_a_back_fill_imported_unsealed_is_a_warning_until_sealed(env: dict[str, str]) -> None:
    upgraded(env)
    assert run(env, "import", "marks", str(DATA / "marks.csv"), "--no-seal").exit_code == 0
    assert rows(env, "mark_seals") == 0
    assert "not sealed" in run(env, "audit", "verify").stdout
    assert run(env, "audit", "seal").exit_code == 0
    assert rows(env, "mark_seals") == 2


def test_a_file_with_bad_rows_is_refused_whole_with_every_problem(env: dict[str, str]) -> None:
    upgraded(env)
    bad = DATA / "marks_bad.csv"
    result = run(env, "import", "marks", str(bad))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {bad} has 5 problem(s) in 4 of 5 row(s)",
        f"  {bad}:3: date: 2025-10-29 is not a school day in calendar england-2025-26 "
        "(autumn half-term break)",
        f"  {bad}:4: school: 'elms' is not a school of this trust (oaks, pines)",
        f"  {bad}:5: code: 'QQ' is not a register code",
        f"  {bad}:6: minutes_late: '5' is given for code 'I'; only L and U take minutes late",
        f"  {bad}:6: recorded_at: '2025-09-04T09:00:00' has no UTC offset "
        "(e.g. 2025-09-03T09:05:00+01:00)",
    ]
    assert (rows(env, "marks"), rows(env, "imports"), rows(env, "pupils")) == (0, 0, 0)


def test_skip_invalid_imports_the_good_rows_and_writes_the_rest_beside_the_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    upgraded(env)
    bad = copy("marks_bad.csv", tmp_path)
    result = run(env, "import", "marks", str(bad), "--skip-invalid")
    assert result.exit_code == 0, result.output
    rejected = tmp_path / "marks_bad.rejected.csv"
    assert result.stdout == (
        f"{bad}: 5 rows read, 1 imported, 0 already known, 4 rejected; "
        f"rejected rows written to {rejected}\n"
    )
    lines = rejected.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "school,pupil,date,session,code,minutes_late,recorded_at,line,reasons"
    assert lines[3] == "oaks,P2,2025-09-03,PM,QQ,,,5,code: 'QQ' is not a register code"
    assert rows(env, "marks") == 1


def test_marks_with_who_recorded_them_are_imported_and_a_too_long_name_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    upgraded(env)
    named = tmp_path / "named.csv"
    named.write_text(
        "school,pupil,date,session,code,minutes_late,recorded_at,recorded_by\n"
        "oaks,P1,2025-09-03,AM,/,,2025-09-03T08:50:00+01:00,Mrs A. Smith\n"
        "oaks,P2,2025-09-03,AM,N,,2025-09-03T09:30:00+01:00,\n"
        "oaks,P2,2025-09-03,AM,I,,2025-09-05T11:00:00+01:00,office\n"
        f"oaks,P3,2025-09-03,AM,/,,2025-09-03T08:55:00+01:00,{'z' * 101}\n",
        encoding="utf-8",
    )
    refused = run(env, "import", "marks", str(named))
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        f"error: {named} has 1 problem(s) in 1 of 4 row(s)",
        f"  {named}:5: recorded_by: '{'z' * 40}...' is 101 characters long (at most 100)",
    ]
    assert rows(env, "marks") == 0
    kept = run(env, "import", "marks", str(named), "--skip-invalid")
    assert kept.exit_code == 0, kept.output
    assert "4 rows read, 3 imported, 0 already known, 1 rejected" in kept.stdout
    engine = sa.create_engine(env["ESCALATION_FLOW_DATABASE_URL"])
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT recorded_by FROM marks")).scalars().all()
    engine.dispose()
    assert sorted(names, key=str) == ["Mrs A. Smith", None, "office"]
    assert run(env, "audit", "verify").exit_code == 0


def test_historic_codes_need_an_explicit_mapping(env: dict[str, str]) -> None:
    upgraded(env)
    historic = str(DATA / "marks_historic.csv")
    refused = run(env, "import", "marks", historic)
    assert refused.exit_code == 2
    assert "'H' was withdrawn in 2024" in refused.stderr
    assert "--map-code" in refused.stderr
    mapped = run(env, "import", "marks", historic, "--map-code", "H=C", "--map-code", "J=J1")
    assert mapped.exit_code == 0, mapped.output
    engine = sa.create_engine(env["ESCALATION_FLOW_DATABASE_URL"])
    with engine.connect() as conn:
        codes = conn.execute(sa.text("SELECT code FROM marks ORDER BY code")).scalars().all()
    engine.dispose()
    assert codes == ["C", "C", "J1"]


def test_a_mapping_that_is_not_old_equals_new_is_a_usage_error(env: dict[str, str]) -> None:
    upgraded(env)
    result = run(env, "import", "marks", str(DATA / "marks_historic.csv"), "--map-code", "H")
    assert result.exit_code == 2
    assert "'H' is not OLD=NEW" in result.stderr


def test_importing_before_the_database_is_upgraded_says_how_to_fix_it(
    env: dict[str, str],
) -> None:
    result = run(env, "import", "marks", str(DATA / "marks.csv"))
    assert result.exit_code == 3
    assert "run `escalation-flow db upgrade`" in result.stderr


def test_importing_a_roster_adds_the_pupils(env: dict[str, str]) -> None:
    upgraded(env)
    roster = str(DATA / "roster.csv")
    result = run(env, "import", "roster", roster, "--trust", str(TRUST))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{roster}: 3 pupils read, 3 new, 0 already known (updated)\n"
    assert rows(env, "pupils") == 3
