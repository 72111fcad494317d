"""Loading rule plugins from the `registry.rules` entry point group (A6R-38)."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

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


def code_digest(plugin: Any) -> str:
    """SHA-256 of the source of the module that defines `plugin`: a saved rule version names the
    plugin with this digest, so that an edit of the plugin's code is found, not silently applied
    to proposals decided under that version (A6R-39)."""
    module = inspect.getmodule(plugin if inspect.isclass(plugin) or inspect.isfunction(plugin) else type(plugin))
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        source = ""
    if not source:
        # Without its source (a compiled-only install) a plugin's code cannot be told apart.
        log.warning("rule plugin %r has no readable source: its code is not pinned", plugin)
    return hashlib.sha256(source.encode()).hexdigest()


def code_digests(plugins: Mapping[str, Any]) -> dict[str, str]:
    return {name: code_digest(plugin) for name, plugin in plugins.items()}
