"""Make a service's own signing secret and print what its verifiers list for it.

    python -m registry_platform.service_keys interop-gateway

prints the REGISTRY_SERVICE_SECRET to give that service alone, and the public key to put under
its name in REGISTRY_SERVICE_KEYS of the services that must know a call came from it.
"""

from __future__ import annotations

import argparse
import json
import secrets

from registry_platform.auth import service_public_key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", help="the service's name, e.g. interop-gateway")
    args = parser.parse_args(argv)
    secret = secrets.token_urlsafe(48)
    print(f"REGISTRY_SERVICE_SECRET={secret}")
    print(f"REGISTRY_SERVICE_KEYS={json.dumps({args.service: service_public_key(secret)})}")


if __name__ == "__main__":
    main()
