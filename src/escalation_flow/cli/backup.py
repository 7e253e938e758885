"""``escalation-flow backup --to FILE`` and ``escalation-flow restore FILE``, each followed by
``audit verify`` of what it copied against the checkpoint the backup carries (docs/backup.md).
They work on the database named by the settings (``ESCALATION_FLOW_DATABASE_URL``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from escalation_flow.cli import main, root

#: The exit status when the copy does not verify against its checkpoint (as ``audit verify``).
FOUND = 1


@main.command("backup")
@click.option(
    "--to", "target", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (one file: the database copy, its checkpoint, a manifest).",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def backup_command(target: Path, force: bool) -> None:
    """Copy the database while the daemon runs (SQLite's online backup; PostgreSQL's pg_dump),
    with the audit checkpoint made from that copy, into one file; then read the file back and
    verify the copy against the checkpoint. The checkpoint is also written beside it
    (FILE.checkpoint.json, its sha256 printed) for the auditor to keep. Exit 1 if the copy
    does not verify (the file is kept: it is still the database as it stood)."""
    from escalation_flow.audit.report import verify_text
    from escalation_flow.backups.work import take_backup
    from escalation_flow.settings import load_settings

    settings = load_settings()
    done = take_backup(settings.database_url, target, root().clock.now(), force=force)
    m = done.manifest
    click.echo(
        f"{target}: backup of the {m['database']} database at schema {m['revision']}, made "
        f"{m['created_at']} ({m['size']} bytes, sha256 {m['database_sha256'][:12]})"
    )
    click.echo(
        f"{done.checkpoint_file}: the checkpoint it carries, sha256 {done.checkpoint_sha256}: "
        "give a copy to the auditor to keep with their other checkpoints (after a restore, "
        "`audit verify --restored-from` needs it)"
    )
    click.echo("audit verify of the copy against the checkpoint it carries:")
    click.echo(verify_text(done.report), nl=False)
    if not done.report.ok:
        sys.exit(FOUND)


@main.command("restore")
@click.argument("source", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True,
    help="Restore over a database that holds what the backup does not (it is lost).",
)  # fmt: skip
def restore_command(source: Path, force: bool) -> None:
    """Put the backup FILE in place of the database: check it against its manifest, stop if
    the daemon is running (on SQLite the pages, `serve`, cannot be seen: stop them first), refuse (without --force) to replace a database newer than the
    backup, restore it, record the restore, and verify it against the checkpoint it carries.
    Exit 1 if it does not verify."""
    from escalation_flow.audit.report import verify_text
    from escalation_flow.backups.work import restore_backup
    from escalation_flow.settings import load_settings

    settings = load_settings()
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        click.echo(
            "note: on SQLite restore sees only the daemon's lock, not the pages (`serve`): stop "
            "them before restoring, or they go on serving (and writing) the database replaced"
        )
    done = restore_backup(
        settings.database_url,
        source,
        root().clock.now(),
        force=force,
        register_snapshots=settings.register_snapshots_dir,
    )
    m = done.manifest
    if done.replaced:
        click.echo(f"replaced (--force): {'; '.join(done.replaced)}")
    click.echo(
        f"restored {source}: the {m['database']} backup of {m['created_at']} (schema "
        f"{m['revision']}, sha256 {m['database_sha256'][:12]}); the checkpoint it carries has "
        f"sha256 {done.checkpoint_sha256} (the auditor's copy of it goes with "
        "`audit verify --restored-from`)"
    )
    click.echo("audit verify --against the checkpoint it carries:")
    click.echo(verify_text(done.report), nl=False)
    if not done.report.ok:
        sys.exit(FOUND)
