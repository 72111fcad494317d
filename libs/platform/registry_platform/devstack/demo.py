"""Demo data for `make up`: a small registry a newcomer can click through."""

from __future__ import annotations

from registry_platform.devstack.stack import Stack


def load_demo_data(stack: Stack) -> None:
    """Loads nothing yet beyond what the services announce themselves; grows with the ledger."""
    del stack
