"""Stored flow texts read back as checked ``Flow``s, once each (a flow takes a while to load).

The text goes through the flow loader and all its checks, as the SQL store's
``audit_store.flow_from_text`` does, so an earlier version the memory store hands back is the one
its records were hashed under, not the object that was handed in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from pathlib import Path

from escalation_flow.core.definition import Flow
from escalation_flow.errors import FlowError


class FlowTexts:
    """Flows by version, loaded from their stored text on first use (shared by transactions:
    a ``Flow`` is immutable and its version names its text)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Flow] = {}

    def flow(self, version: str, text: str) -> Flow:
        if version not in self._loaded:
            self._loaded[version] = _flow_from_text(text, version)
        return self._loaded[version]


def _flow_from_text(text: str, version: str) -> Flow:
    from escalation_flow.adapters.flow_files import load_flow

    raw = text.encode("utf-8")
    if hashlib.sha256(raw).hexdigest() != version:
        raise FlowError(f"stored flow version {version[:12]} does not hash to its version")
    with tempfile.TemporaryDirectory(prefix="escalation-flow-") as folder:
        path = Path(folder) / f"{version[:12]}.yaml"
        path.write_bytes(raw)
        flow = load_flow(path)
    return dataclasses.replace(flow, path=f"flow_versions:{version[:12]}")
