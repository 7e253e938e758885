"""The trust file's ``retention:`` section: read when given, refused with the file, line and
field when the law or sense forbids it, absent by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalation_flow.adapters.trust_files import load_trust
from escalation_flow.core.retention import RetentionPolicy
from escalation_flow.errors import TrustConfigError
from tests.retention_builders import write_trust


def test_a_policy_is_read_with_the_register_term_defaulting_to_the_laws_six(
    tmp_path: Path,
) -> None:
    trust = load_trust(write_trust(tmp_path, "  closed_cases_years: 7\n"))
    assert trust.retention == RetentionPolicy(registers_years=6, closed_cases_years=7)


def test_without_a_section_there_is_no_policy(tmp_path: Path) -> None:
    assert load_trust(write_trust(tmp_path, None)).retention is None


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ("  registers_years: 3\n  closed_cases_years: 6\n", "retention.registers_years",
         "shorter than the law allows"),
        ("  registers_years: 6\n", "retention.closed_cases_years", "required"),
        ("  closed_cases_years: 6\n  keep_forever: yes\n", "retention.keep_forever",
         "unknown key"),
    ],
)  # fmt: skip
def test_a_bad_policy_is_refused_naming_the_file_line_and_field(
    tmp_path: Path, section: str, field: str, words: str
) -> None:
    path = write_trust(tmp_path, section)
    with pytest.raises(TrustConfigError) as raised:
        load_trust(path)
    [problem] = raised.value.problems
    assert problem.file == str(path) and problem.field == field and words in problem.message
    assert problem.line is not None and problem.line >= 3  # the key, or the section missing it
