"""``users add --email`` (with ``--no-password`` for single sign-on only), ``users email`` to set
or clear it later (which unlinks the sign-in), and ``users list`` showing both."""

from __future__ import annotations

from click.testing import CliRunner

from tests.e2e.test_staff_cli import cli, clock, run, template  # noqa: F401 - the fixtures

SCHOOL = "oaks"


def test_a_member_of_staff_added_with_an_email_and_no_password_is_listed_with_it(
    cli: CliRunner,  # noqa: F811 - the fixture
) -> None:
    added = run(cli, "users", "add", "j.evans", "--name", "Jo Evans", "--role", "attendance_lead",
                "--school", SCHOOL, "--email", "Jo.Evans@School.example", "--no-password")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "j.evans <jo.evans@school.example>" in added.output
    listed = run(cli, "users", "list").output
    assert "Jo Evans <jo.evans@school.example>" in listed


def test_no_password_without_an_email_is_refused_naming_the_option(
    cli: CliRunner,  # noqa: F811
) -> None:
    refused = run(cli, "users", "add", "x.y", "--name", "X", "--role", "attendance_lead",
                  "--school", SCHOOL, "--no-password")  # fmt: skip
    assert refused.exit_code == 2 and "--no-password" in refused.output


def test_a_bad_or_taken_email_is_refused(cli: CliRunner) -> None:  # noqa: F811
    bad = run(cli, "users", "email", "s.one", "not-an-email")
    assert bad.exit_code == 2 and "--email" in bad.output and "not an email" in bad.output
    assert run(cli, "users", "email", "s.one", "one@school.example").exit_code == 0
    taken = run(cli, "users", "email", "s.two", "ONE@school.example")
    assert taken.exit_code != 0 and "already s.one's email" in taken.output


def test_an_email_set_later_can_be_cleared(cli: CliRunner) -> None:  # noqa: F811
    assert "link at their next sign-in" in run(cli, "users", "email", "s.one", "o@s.example").output
    assert "<o@s.example>" in run(cli, "users", "list").output
    cleared = run(cli, "users", "email", "s.one", "--clear")
    assert cleared.exit_code == 0 and "<o@s.example>" not in run(cli, "users", "list").output
    neither = run(cli, "users", "email", "s.one")
    assert neither.exit_code == 2


def test_an_email_that_is_not_plain_ascii_is_refused(cli: CliRunner) -> None:  # noqa: F811
    kelvin = "\u212aate@school.example"  # would lower-case to kate@school.example
    refused = run(cli, "users", "email", "s.one", kelvin)
    assert refused.exit_code == 2 and "ASCII" in refused.output
    added = run(cli, "users", "add", "k.x", "--name", "K", "--role", "attendance_lead",
                "--school", SCHOOL, "--email", kelvin, "--no-password")  # fmt: skip
    assert added.exit_code == 2 and "ASCII" in added.output
    assert "k.x" not in run(cli, "users", "list").output
