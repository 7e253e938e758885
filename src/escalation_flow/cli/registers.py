"""Register commands: ``import marks``, ``import roster`` and ``db upgrade``.

A file with bad rows is refused whole (exit status 2, every problem listed) and nothing is
written to the database, unless ``--skip-invalid`` asks for the good rows to go in and the bad
ones to be written beside the file.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from escalation_flow.cli import main, root

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_TRUST_HELP = "The trust file naming the schools and their calendars (default: settings)."


@main.group("import")
def import_group() -> None:
    """Take in register files from the MIS: marks and rosters."""


@import_group.command("marks")
@click.argument("file", type=_FILE)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows and write the bad ones to FILE's .rejected.csv beside it.",
)
@click.option(
    "--map-code",
    "map_codes",
    multiple=True,
    metavar="OLD=NEW",
    help="Import a withdrawn code (H, J, Y) of a historic file as a code in force, e.g. H=C.",
)
@click.option("--trust", "trust_path", type=_FILE, default=None, help=_TRUST_HELP)
@click.option("--by", default=None, help="Who is importing (default: the login name).")
@click.option(
    "--seal/--no-seal",
    default=True,
    show_default=True,
    help="Seal the new marks in the same transaction, so that audit verify names any later "
    "edit (about 20 µs a mark: --no-seal for a year's back-fill, then run audit seal).",
)
@click.option(
    "--warn-recorded-at",
    is_flag=True,
    help="Import marks whose recorded_at is before their own day or more than a day ahead of "
    "now, warning about each (refused by default).",
)
def import_marks(
    file: Path,
    skip_invalid: bool,
    map_codes: tuple[str, ...],
    trust_path: Path | None,
    by: str | None,
    seal: bool,
    warn_recorded_at: bool,
) -> None:
    """Import a register marks CSV (contract.md, "Register marks")."""
    from escalation_flow.adapters.register_files import read_marks, write_rejected
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.logs import get_logger
    from escalation_flow.settings import load_settings

    mapping = _code_mapping(map_codes)
    settings = load_settings()
    trust = load_trust(trust_path or settings.trust_file)
    with root().store(settings) as store:
        clock = root().clock
        result = read_marks(
            file,
            trust.calendars(),
            historic_mapping=mapping,
            skip_invalid=skip_invalid,
            aliases=trust.aliases,
            now=clock.now(),
            odd_recorded_at="warn" if warn_recorded_at else "refuse",
        )
        for problem in result.warnings:
            click.echo(f"warning: {problem}", err=True)
        store.upsert_schools(trust)
        summary = store.import_marks(
            result, file=file, now=clock.now(), by=by or _login(), clock=clock, seal=seal
        )
    line = summary.line()
    if result.rejected:
        line += f"; rejected rows written to {write_rejected(result)}"
    get_logger(__name__).info(
        "marks_imported",
        file=str(file),
        import_id=summary.import_id,
        rows=summary.rows_read,
        imported=summary.imported,
        already_known=summary.already_known,
        rejected=summary.rejected,
    )
    click.echo(line)


@import_group.command("roster")
@click.argument("file", type=_FILE)
@click.option("--trust", "trust_path", type=_FILE, default=None, help=_TRUST_HELP)
@click.option("--by", default=None, help="Who is importing (default: the login name).")
def import_roster(file: Path, trust_path: Path | None, by: str | None) -> None:
    """Import a roster CSV: pupils' names, year groups, dates of birth, admission and leaving."""
    from escalation_flow.adapters.register_files import read_roster
    from escalation_flow.adapters.trust_files import load_trust
    from escalation_flow.settings import load_settings

    settings = load_settings()
    trust = load_trust(trust_path or settings.trust_file)
    with root().store(settings) as store:
        rosters = read_roster(file, set(trust.schools), aliases=trust.aliases)
        clock = root().clock
        store.upsert_schools(trust)
        summary = store.import_roster(
            rosters, file=file, now=clock.now(), by=by or _login(), clock=clock
        )
    click.echo(summary.line())


@main.group("db")
def db_group() -> None:
    """The database: schema migrations."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (settings: database_url) to the newest schema."""
    from escalation_flow.adapters.store.schema import current_revision
    from escalation_flow.settings import load_settings

    with root().store(load_settings(), migrate=True) as store:
        revision = current_revision(store.engine)
        url = store.engine.url.render_as_string(hide_password=True)
    click.echo(f"{url}: schema at revision {revision}")


def _code_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise click.BadParameter(f"{pair!r} is not OLD=NEW (e.g. H=C)", param_hint="--map-code")
        mapping[old.strip()] = new.strip()
    return mapping


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"
