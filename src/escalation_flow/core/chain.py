"""A case's history as stored: canonical JSON bodies and the per-case hash chain.

Each ``case_events`` row carries ``hash`` = sha256 (hex) of the canonical JSON of::

    {"case": "<school>/<pupil>", "seq": n, "on": "YYYY-MM-DD", "at": "<instant>",
     "type": "...", "body": "<the body text>", "flow_version": "...", "actor": "...",
     "recorded_at": "<instant>", "prev_hash": "<the previous row's hash, or 64 zeros>"}

Canonical JSON: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8. Instants are written in UTC as ``datetime.isoformat()`` gives them
(``2025-09-12T15:30:00+00:00``; microseconds appear only when not zero). The body is the
canonical JSON of ``Decision.to_event()``, hashed as the text it is stored as. Decision records
keep this form (format 1) for good: their hashes are what checkpoints and replays name.

Format 2 adds **later records** (``chain_records``): what happened to what a decision made,
after it was decided (a letter prepared, rendered to PDF, approved; a task without a case
completed; a staff audit-log entry). Each belongs to a chain named ``case:<school>/<pupil>``
(beside that case's decisions), ``school:<key>`` or ``trust`` and carries the hash of::

    {"format": 2, "chain": "...", "seq": n, "kind": "...", "subject": "letter 12",
     "body": "<canonical JSON of digests and who/when>", "at": "<instant>",
     "recorded_at": "<instant>", "prev_hash": "<the chain's previous record's hash, or zeros>"}

A body holds digests (sha256) of personal data, never the data itself, so a letter's text can
be erased later and the chain still verifies (``docs/architecture.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from escalation_flow.core.decisions import Decision

#: ``json``'s own quoting of a text (with ``ensure_ascii=False``), as ``canonical_json`` does it
_quoted = json.encoder.encode_basestring

#: The version of the record format above (the fields hashed, canonical JSON, instants in UTC).
#: A change to any of them is a new version: records already written keep the hash they were
#: given, so a verifier must know which format it reads; a checkpoint names the one it saw.
CHAIN_FORMAT = 2
#: The chain formats this version reads (a checkpoint made over format 1 still verifies).
CHAIN_FORMATS = (1, 2)

#: The hash a case's chain starts from.
GENESIS = "0" * 64


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: ``json``'s C encoder made once with ``canonical_json``'s settings: ``json.dumps`` with any
#: argument builds a ``JSONEncoder`` and then its C encoder on every call, about a third of
#: the time of a decision's small body (a school day writes tens of thousands). No check for
#: circular values: a record is a tree of JSON values (one would recurse until Python stops it).
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # (not in typeshed)
_C_ENCODER: Any = (
    None
    if _make_encoder is None
    else _make_encoder(None, _not_json, _quoted, None, ":", ",", True, False, True)
)


def canonical_json(value: Any) -> str:
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(value, 0))
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_of(decision: Decision) -> str:
    return canonical_json(decision.to_event())


def instant_text(instant: datetime) -> str:
    if instant.tzinfo is None:
        raise ValueError("history instants must be timezone-aware")
    return instant.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ChainLink:
    """The fields of one history row that its hash covers."""

    case: str  # "<school>/<pupil>"
    seq: int
    on: date
    at: datetime
    type: str
    body: str
    flow_version: str
    actor: str
    recorded_at: datetime
    prev_hash: str

    def hash(self) -> str:
        return link_hash(
            self.case,
            self.seq,
            self.on.isoformat(),
            instant_text(self.at),
            self.type,
            self.body,
            self.flow_version,
            self.actor,
            instant_text(self.recorded_at),
            self.prev_hash,
        )


#: The canonical JSON of a decision record's fields when each text field is a ``str`` and
#: ``seq`` an ``int``: its keys in sorted order, each text as ``json`` writes it.
_LINK_TEXT = (
    '{"actor":%s,"at":%s,"body":%s,"case":%s,"flow_version":%s,"on":%s,"prev_hash":%s,'
    '"recorded_at":%s,"seq":%d,"type":%s}'
)


def link_hash(
    case: str,
    seq: int,
    on: str,
    at: str,
    kind: str,
    body: str,
    flow_version: str,
    actor: str,
    recorded_at: str,
    prev_hash: str,
) -> str:
    """The hash of a decision record (format 1) from its fields, the dates and instants already
    as text (``date.isoformat``, ``instant_text``).

    The canonical JSON is written by one format string rather than by ``json.dumps`` of a dict
    sorted on every call: a school day hashes tens of thousands of records. The text is the same
    (``tests/core/test_chain.py`` holds the two equal); a field of another type goes the
    general way."""
    texts = (actor, at, body, case, flow_version, on, prev_hash, recorded_at, kind)
    if type(seq) is int and all(type(t) is str for t in texts):
        text = _LINK_TEXT % (
            _quoted(actor), _quoted(at), _quoted(body), _quoted(case), _quoted(flow_version),
            _quoted(on), _quoted(prev_hash), _quoted(recorded_at), seq, _quoted(kind),
        )  # fmt: skip
    else:
        text = link_document_text(
            case, seq, on, at, kind, body, flow_version, actor, recorded_at, prev_hash
        )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link_document_text(
    case: Any,
    seq: Any,
    on: Any,
    at: Any,
    kind: Any,
    body: Any,
    flow_version: Any,
    actor: Any,
    recorded_at: Any,
    prev_hash: Any,
) -> str:
    """The canonical JSON a decision record's hash covers, as the format defines it (a dict
    through ``canonical_json``): what ``link_hash``'s quicker text must equal."""
    document = {
        "case": case,
        "seq": seq,
        "on": on,
        "at": at,
        "type": kind,
        "body": body,
        "flow_version": flow_version,
        "actor": actor,
        "recorded_at": recorded_at,
        "prev_hash": prev_hash,
    }
    return canonical_json(document)


def broken_links(links: Iterable[tuple[ChainLink, str]]) -> list[int]:
    """The ``seq`` of every row whose stored hash (the pair's second item) or ``prev_hash`` does
    not follow from the rows before it; empty when the chain holds."""
    broken: list[int] = []
    previous = GENESIS
    expected_seq = 1
    for link, stored in links:
        if link.prev_hash != previous or link.seq != expected_seq or link.hash() != stored:
            broken.append(link.seq)
        previous = stored
        expected_seq = link.seq + 1
    return broken


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RecordLink:
    """The fields of one later record (format 2) that its hash covers."""

    chain: str  # "case:<school>/<pupil>", "school:<key>" or "trust"
    seq: int
    kind: str  # "letter_prepared", "letter_rendered", "letter_approved", "task_completed", ...
    subject: str  # "letter 12", "task 7", "audit 33"
    body: str  # canonical JSON: digests and who/when, never personal data itself
    at: datetime
    recorded_at: datetime
    prev_hash: str

    def hash(self) -> str:
        document = {
            "format": 2,
            "chain": self.chain,
            "seq": self.seq,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "at": instant_text(self.at),
            "recorded_at": instant_text(self.recorded_at),
            "prev_hash": self.prev_hash,
        }
        return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def case_chain(school: str, pupil: str) -> str:
    """The name of the later records' chain beside a case's decisions."""
    return f"case:{school}/{pupil}"


def school_chain(school: str | None) -> str:
    """The chain of a school's records that belong to no case (or the trust's)."""
    return "trust" if school is None else f"school:{school}"
