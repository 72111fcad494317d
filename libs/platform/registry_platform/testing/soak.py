"""How long the randomized and crash tests run: their size under `make test`, larger under `make soak`.

`make soak` sets REGISTRY_SOAK_<NAME> for the sizes below; a test reads its size with `soak_size`.
"""

from __future__ import annotations

import os


def soak_size(name: str, default: int) -> int:
    """REGISTRY_SOAK_<NAME> if set (a positive integer), else `default`."""
    raw = os.environ.get(f"REGISTRY_SOAK_{name.upper()}")
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"REGISTRY_SOAK_{name.upper()} must be a positive integer, not {raw!r}")
    return int(raw)
