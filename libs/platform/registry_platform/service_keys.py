"""Make a service's own signing secret and print what its verifiers list for it.

    python -m registry_platform.service_keys interop-gateway

prints the REGISTRY_SERVICE_SECRET to give that service alone, and the public key to put under
its name in REGISTRY_SERVICE_KEYS of the services that must know a call came from it (for
docker-compose.yml, the secret is REGISTRY_GATEWAY_SERVICE_SECRET and the public key alone
REGISTRY_GATEWAY_SERVICE_KEY, see deploy/env.example).
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
    public = service_public_key(secret)
    print(f"# {args.service}'s own environment (never another service's):")
    print(f"REGISTRY_SERVICE_SECRET={secret}")
    print("# the environment of the services that check its calls:")
    print(f"REGISTRY_SERVICE_KEYS={json.dumps({args.service: public})}")
    print(f"# the public key alone: {public}")


if __name__ == "__main__":
    main()
