"""A case's history as stored: canonical JSON bodies and the per-case hash chain.

Each ``case_events`` row carries ``hash`` = sha256 (hex) of the canonical JSON of::

    {"case": "<school>/<pupil>", "seq": n, "on": "YYYY-MM-DD", "at": "<instant>",
     "type": "...", "body": "<the body text>", "flow_version": "...", "actor": "...",
     "recorded_at": "<instant>", "prev_hash": "<the previous row's hash, or 64 zeros>"}

Canonical JSON: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
encoded as UTF-8. Instants are written in UTC as ``datetime.isoformat()`` gives them
(``2025-09-12T15:30:00+00:00``; microseconds appear only when not zero). The body is the
canonical JSON of ``Decision.to_event()``, hashed as the text it is stored as.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from escalation_flow.core.decisions import Decision

#: The version of the record format above (the fields hashed, canonical JSON, instants in UTC).
#: A change to any of them is a new version: records already written keep the hash they were
#: given, so a verifier must know which format it reads; a checkpoint names the one it saw.
CHAIN_FORMAT = 1

#: The hash a case's chain starts from.
GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
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
        document = {
            "case": self.case,
            "seq": self.seq,
            "on": self.on.isoformat(),
            "at": instant_text(self.at),
            "type": self.type,
            "body": self.body,
            "flow_version": self.flow_version,
            "actor": self.actor,
            "recorded_at": instant_text(self.recorded_at),
            "prev_hash": self.prev_hash,
        }
        return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


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
