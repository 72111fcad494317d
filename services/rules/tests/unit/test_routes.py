"""Every endpoint declares exactly one access policy, and the API describes itself (issue 4's matrix)."""

from __future__ import annotations

from registry_platform.matrix import rows_for
from rules.bootstrap import create_app


def test_every_route_declares_one_policy_and_elevated_changes_need_step_up() -> None:
    app = create_app()
    rows = {(r.method, r.path): r for r in rows_for("rules", app)}
    assert rows[("GET", "/health")].access == "public"
    assert rows[("POST", "/rules/{name}/versions")].access == "registry_administrator"
    assert rows[("POST", "/bindings")].access == "registry_administrator section_administrator"
    changes = [r for r in rows.values() if r.method == "POST" and r.path.startswith(("/rules", "/bindings", "/packs"))]
    assert changes and all(r.step_up for r in changes)
    assert not rows[("POST", "/evaluations")].step_up
    paths = app.openapi()["paths"]
    assert {"/rules/{name}/versions", "/bindings", "/evaluations", "/compliance/checks", "/packs/{name}"} <= set(paths)
