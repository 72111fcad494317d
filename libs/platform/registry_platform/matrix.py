"""The authorization matrix: every endpoint of every service with the roles it admits (issue 4, item 8).

It is read from the routes' declared policies (registry_platform.authz), so it cannot drift from the
code; docs/authorization-matrix.csv is the committed copy a reviewer reads, and a test fails when the
two differ. Regenerate with `python -m registry_platform.matrix --write`.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from registry_platform.authz import route_policies
from registry_platform.devstack.stack import SERVICES

MATRIX_FILE = Path(__file__).resolve().parents[3] / "docs" / "authorization-matrix.csv"
HEADER = ("service", "method", "path", "access", "step_up")
# The web's pages: "session" (any signed-in user) or "session: <roles>" (see authz.session).
SESSION = "session"


@dataclass(frozen=True, order=True)
class Row:
    service: str
    method: str
    path: str
    access: str  # "public", "authenticated", "session", "session: <roles>", or the admitted roles
    step_up: bool

    @property
    def session(self) -> bool:
        """A web page: it admits a signed-in web session, never a bearer token."""
        return self.access.split(":")[0] == SESSION

    @property
    def roles(self) -> frozenset[str]:
        if self.access in ("public", "authenticated", SESSION):
            return frozenset()
        return frozenset(self.access.removeprefix(f"{SESSION}:").split())


class UndeclaredPolicy(Exception):
    """A route declares no policy, or more than one: the matrix cannot say who may call it."""


def rows_for(service: str, app: FastAPI) -> list[Row]:
    rows: list[Row] = []
    for path, methods, policies in route_policies(app):
        if len(policies) != 1:
            raise UndeclaredPolicy(f"{service} {sorted(methods)} {path} declares {len(policies)} policies")
        policy = policies[0]
        if policy.public:
            access = "public"
        elif policy.session:
            access = f"{SESSION}: {' '.join(sorted(policy.roles))}" if policy.roles else SESSION
        elif policy.any_grant:
            access = "authenticated"
        else:
            access = " ".join(sorted(policy.roles))
        rows.extend(Row(service, method, path, access, policy.step_up) for method in sorted(methods))
    return rows


def service_apps() -> dict[str, FastAPI]:
    """Each service's application, built as uvicorn builds it (nothing starts until its lifespan)."""
    return {s.name: importlib.import_module(f"{s.module}.bootstrap").create_app() for s in SERVICES}


def current_matrix() -> list[Row]:
    return sorted(row for name, app in service_apps().items() for row in rows_for(name, app))


def render(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow((r.service, r.method, r.path, r.access, "yes" if r.step_up else "no"))
    return out.getvalue()


def parse(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    return [Row(r["service"], r["method"], r["path"], r["access"], r["step_up"] == "yes") for r in reader]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {MATRIX_FILE} instead of printing")
    args = parser.parse_args(argv)
    # The apps are built only to read their routes: no secrets are needed, whatever the machine's mode.
    os.environ["REGISTRY_MODE"] = "test"
    text = render(current_matrix())
    if args.write:
        MATRIX_FILE.parent.mkdir(exist_ok=True)
        MATRIX_FILE.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
