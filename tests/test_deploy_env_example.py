"""The IT team's environment file (deploy/escalation-flow.env.example): every setting it names,
set or commented out for them to fill in, is one the service reads (settings are extra="ignore",
so a misspelt name would be dropped without a word)."""

from __future__ import annotations

import re
from pathlib import Path

from escalation_flow.settings import Settings
from escalation_flow.web.settings import WebSettings

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "escalation-flow.env.example"


def _named() -> list[str]:
    text = EXAMPLE.read_text(encoding="utf-8")
    return re.findall(r"^#?(ESCALATION_FLOW_[A-Z0-9_]+)=", text, flags=re.MULTILINE)


def _known() -> set[str]:
    core = {f"ESCALATION_FLOW_{name.upper()}" for name in Settings.model_fields}
    web = {f"ESCALATION_FLOW_WEB_{name.upper()}" for name in WebSettings.model_fields}
    return core | web


def test_every_setting_the_deploy_env_example_names_is_one_the_service_reads() -> None:
    named = _named()
    assert "ESCALATION_FLOW_WEB_OIDC_ISSUER" in named  # single sign-on is offered, commented
    assert [n for n in named if n not in _known()] == []
