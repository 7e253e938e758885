"""The backup file: a tar of three members, written whole or not at all.

- ``manifest.json``: what the file is (``kind``, ``format``), when it was made (the service's
  clock), the database kind and migration revision, the copy's member name, size and sha256,
  and the sha256 of the checkpoint it carries;
- ``checkpoint.json``: the audit checkpoint made from the copy (``audit checkpoint``'s format);
- ``database.sqlite`` (SQLite's online backup) or ``database.pgdump`` (``pg_dump
  --format=custom``).

Reading checks every member against the manifest before anything is restored: a file edited
or damaged after it was made is refused, naming what does not match. Sizes are checked before
any byte is written out (a crafted member claiming hundreds of megabytes, a GNU sparse one
above all, is refused from its header, not after filling the disk).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escalation_flow.errors import InputError

KIND = "escalation-flow backup"
FORMAT = 1
MANIFEST, CHECKPOINT = "manifest.json", "checkpoint.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
_CHUNK = 1 << 20
#: The most a manifest or a carried checkpoint may hold (read whole into memory). A manifest
#: is a few hundred bytes; a checkpoint is mostly hashes, some 200 bytes a letter, task or case:
#: a large trust's is tens of megabytes.
MANIFEST_CAP = 1 << 20
CHECKPOINT_CAP = 512 << 20


@dataclass(frozen=True)
class Opened:
    """A backup file read and checked: its manifest, its checkpoint's text, and its database
    copy extracted to ``database`` (a temporary file the caller removes)."""

    path: Path
    manifest: dict[str, Any]
    checkpoint_text: str
    database: Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_backup(
    target: Path, manifest: dict[str, Any], checkpoint_text: str, database: Path
) -> None:
    """Write the three members to ``target`` by way of a temporary file beside it, renamed into
    place only once complete (a backup cut short leaves no file that looks whole)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, _json_bytes(manifest))
            _add_bytes(tar, CHECKPOINT, checkpoint_text.encode("utf-8"))
            tar.add(str(database), arcname=manifest["database_member"], filter=_private)
        with temporary.open("rb") as f:
            os.fsync(f.fileno())
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The copy as the other members: readable by its owner only (it names children), owned
    by nobody in particular (the machine restoring it has its own users)."""
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def _json_bytes(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def open_backup(path: Path, into: Path) -> Opened:
    """Read ``path``, check it against its manifest and extract its database copy into the
    folder ``into``; refused (``InputError`` naming the file and what is wrong) otherwise."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = {m.name: m for m in tar.getmembers()}
            _plain(path, members)
            _capped(path, members, MANIFEST, MANIFEST_CAP)
            manifest = _manifest(path, tar, members)
            name = manifest["database_member"]
            _capped(path, members, CHECKPOINT, CHECKPOINT_CAP)
            _sized(path, members, name, manifest["size"])
            text = _member_bytes(path, tar, members, CHECKPOINT).decode("utf-8")
            database = into / name
            _extract(path, tar, members, name, database)
    except (OSError, tarfile.TarError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable backup file: {exc}") from exc
    _check_sums(path, manifest, text, database)
    return Opened(path, manifest, text, database)


def _manifest(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> Any:
    try:
        manifest = json.loads(_member_bytes(path, tar, members, MANIFEST))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: {MANIFEST}: not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise InputError(f"{path}: {MANIFEST}: not the manifest of an escalation-flow backup")
    if manifest.get("format") != FORMAT:
        raise InputError(
            f"{path}: {MANIFEST}: field format: backup format {manifest.get('format')!r} is "
            f"not one this version reads ({FORMAT}); restore with the release that made it"
        )
    for field, kind in (("database", str), ("database_member", str), ("database_sha256", str),
                        ("created_at", str), ("checkpoint_sha256", str), ("revision", str),
                        ("size", int)):  # fmt: skip
        if not isinstance(manifest.get(field), kind) or isinstance(manifest.get(field), bool):
            raise InputError(f"{path}: {MANIFEST}: field {field}: missing or not a {kind.__name__}")
    if DATABASE_MEMBERS.get(manifest["database"]) != manifest["database_member"]:
        raise InputError(
            f"{path}: {MANIFEST}: field database: {manifest['database']!r} with member "
            f"{manifest['database_member']!r} is not a kind of database this version restores"
        )
    unexpected = set(members) - {MANIFEST, CHECKPOINT, manifest["database_member"]}
    if unexpected:
        raise InputError(f"{path}: members not of a backup: {', '.join(sorted(unexpected))}")
    return manifest


def _plain(path: Path, members: dict[str, tarfile.TarInfo]) -> None:
    """Every member a regular file as ``write_backup`` writes them: never sparse (whose header
    claims more than the archive holds), a link or a device."""
    for name, member in sorted(members.items()):
        if not member.isreg() or member.issparse():
            raise InputError(
                f"{path}: {name}: not a plain file member (type {member.type!r}"
                f"{', sparse' if member.issparse() else ''}): not a backup this program wrote; "
                "nothing was restored"
            )


def _capped(path: Path, members: dict[str, tarfile.TarInfo], name: str, cap: int) -> None:
    member = members.get(name)
    if member is not None and member.size > cap:
        raise InputError(
            f"{path}: {name}: {member.size} bytes, more than the {cap} a backup's {name} may "
            "hold: not a backup this program wrote; nothing was restored"
        )


def _sized(path: Path, members: dict[str, tarfile.TarInfo], name: str, size: int) -> None:
    """The copy's member of the size the manifest gives, checked before it is written out."""
    member = members.get(name)
    if member is not None and member.size != size:
        raise InputError(
            f"{path}: {name}: {member.size} bytes, the manifest (field size) gives {size}: the "
            "copy was changed or damaged after the backup was made; nothing was restored"
        )


def _member_bytes(
    path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str
) -> bytes:
    member = members.get(name)
    f = tar.extractfile(member) if member is not None and member.isfile() else None
    if f is None:
        raise InputError(f"{path}: no {name} in the file: not a backup, or cut short")
    return f.read()


def _extract(
    path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, out: Path
) -> None:
    """One member's bytes to ``out`` (read by name, never ``extractall``: a member's own path
    is not trusted)."""
    member = members.get(name)
    source = tar.extractfile(member) if member is not None and member.isfile() else None
    if source is None:
        raise InputError(f"{path}: no {name} in the file: not a backup, or cut short")
    left = member.size if member is not None else 0
    with out.open("wb") as f:
        while left > 0 and (chunk := source.read(min(_CHUNK, left))):
            f.write(chunk)
            left -= len(chunk)


def _check_sums(path: Path, manifest: dict[str, Any], checkpoint: str, database: Path) -> None:
    found = file_sha256(database)
    if found != manifest["database_sha256"]:
        raise InputError(
            f"{path}: {manifest['database_member']}: its sha256 is {found}, the manifest gives "
            f"{manifest['database_sha256']}: the copy was changed or damaged after the backup "
            "was made; nothing was restored"
        )
    try:
        carried = json.loads(checkpoint).get("sha256")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise InputError(f"{path}: {CHECKPOINT}: not a checkpoint: {exc}") from exc
    if carried != manifest["checkpoint_sha256"]:
        raise InputError(
            f"{path}: {CHECKPOINT}: not the checkpoint the manifest names (sha256 {carried!r}, "
            f"the manifest gives {manifest['checkpoint_sha256']}); nothing was restored"
        )
