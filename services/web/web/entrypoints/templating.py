"""Jinja2 templates (autoescaped) with the registry's formatting filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from web.domain import formatting
from web.domain.descriptors import DEDICATIONS, review_url


def _query(params: dict[str, Any], **changes: Any) -> str:
    """The current list's query string with some parameters changed (pagination, sorting)."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return ("?" + urlencode(merged)) if merged else ""


ENV = Environment(
    loader=PackageLoader("web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    qty=formatting.quantity,
    time=formatting.time_element,
    utc=formatting.utc_text,
    serials=formatting.block_serials,
    scope=formatting.scope_text,
    label=formatting.label,
    role_choice=lambda role: (role, formatting.label(role, "role")),
    review_url=review_url,
)
ENV.globals.update(query=_query, choices=formatting.choices, dedication_label=dict(DEDICATIONS))


def render(template: str, values: dict[str, Any]) -> str:
    return ENV.get_template(template).render(**values)
