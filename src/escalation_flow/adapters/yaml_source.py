"""Reading YAML the safe way: YAML 1.2 (``off`` stays a string, ``15:00`` stays a string), with
line numbers kept so that every error can name the file, line and field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from escalation_flow.errors import InputError, Problem

#: Characters YAML does not allow in a file (tab, line feed and carriage return are fine).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any
    digest: str  # sha256 of the file's bytes

    @property
    def name(self) -> str:
        return str(self.path)


def read_yaml(path: Path, error: type[InputError] = InputError) -> YamlDocument:
    """Parse one YAML file into ruamel's round-trip nodes (which carry line numbers)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from exc
    text = decode_utf8(raw, path, error)
    if text.lstrip().startswith("%YAML 1.1"):
        raise error(
            f"{path} declares YAML 1.1",
            [Problem(str(path), 1, None, "YAML 1.1 turns 'off' into false; drop the %YAML line")],
        )
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise error(
            f"{path} is not valid YAML", [Problem(str(path), line, None, str(exc.problem))]
        ) from exc
    except ValueError as exc:  # ruamel builds dates itself and fails on e.g. 2026-04-31
        raise error(f"{path} has an impossible date", _impossible_dates(text, path)) from exc
    except (YAMLError, RecursionError) as exc:  # unmarked: no line to name
        raise error(
            f"{path} is not valid YAML", [Problem(str(path), None, None, str(exc))]
        ) from exc
    return YamlDocument(path=path, data=data, digest=hashlib.sha256(raw).hexdigest())


def decode_utf8(raw: bytes, path: Path, error: type[InputError]) -> str:
    """The file's text; a file that is not UTF-8 is refused naming the line, the key on it and
    the first bad byte (never repaired: a replaced character would change what a plan says)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        text = raw[line_start : exc.start].decode("utf-8", errors="replace")
        key = re.match(r"\s*(?:-\s*)?([A-Za-z0-9_.-]+)\s*:", text)
        message = (
            f"byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1} is not UTF-8; "
            "save the file as UTF-8"
        )
        raise error(
            f"{path} is not UTF-8",
            [Problem(str(path), line, key.group(1) if key else None, message)],
        ) from None
    control = _CONTROL.search(text)
    if control is not None:  # YAML refuses them too, but without a line an editor can find
        at = control.start()
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        message = f"control character {ord(control.group()):#04x} at column {column}"
        raise error(f"{path} holds a control character", [Problem(str(path), line, None, message)])
    return text


def _impossible_dates(text: str, path: Path) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for found in re.findall(r"\b\d{4}-\d{1,2}-\d{1,2}\b", line.split("#", 1)[0]):
            try:
                date(*map(int, found.split("-")))
            except ValueError:
                problems.append(Problem(str(path), number, None, f"{found} is not a date"))
    return problems or [Problem(str(path), None, None, "a value is not a valid date")]


def line_of(node: Any, key: str | int | None = None) -> int | None:
    """1-based line of a mapping key (or sequence item), or of the node itself."""
    if isinstance(node, CommentedMap | CommentedSeq):
        try:
            if key is not None:
                if isinstance(node, CommentedMap) and key in node:
                    return int(node.lc.key(key)[0]) + 1
                if isinstance(node, CommentedSeq) and isinstance(key, int):
                    return int(node.lc.item(key)[0]) + 1
            return int(node.lc.line) + 1
        except (AttributeError, KeyError, TypeError, IndexError):
            return None
    return None


def to_plain(node: Any) -> Any:
    """ruamel's nodes to plain dicts, lists and scalars (for pydantic)."""
    if isinstance(node, CommentedMap):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node
