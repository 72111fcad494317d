"""Loading rule plugins from the `registry.rules` entry point group (A6R-38)."""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points

from rules.domain.plugins import ENTRY_POINT_GROUP, RulePlugin

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def installed_plugins() -> dict[str, RulePlugin]:
    """Every installed plugin by its versioned name; one that fails to load is left out, loudly."""
    found: dict[str, RulePlugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            found[ep.name] = loaded() if isinstance(loaded, type) else loaded
        except Exception:
            log.exception("rule plugin %s (%s) could not be loaded", ep.name, ep.value)
    return found
