"""The rules service's own settings."""

from __future__ import annotations

from registry_platform.settings import ServiceSettings


class RulesSettings(ServiceSettings):
    # The descriptors service, asked for the descriptors in force for a proposal's units (A6R-45);
    # empty: proposals are evaluated with the descriptors they carry (none).
    descriptors_url: str = ""
