"""`registry-dev up|down|status|logs`: what `make up`, `make down`, `make status`, `make logs` run."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from registry_platform.devstack.stack import SERVICES, Stack, service_url


def _root() -> Path:
    # The repository root: the folder holding the Makefile, found from the working directory.
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Makefile").exists() and (candidate / "services").is_dir():
            return candidate
    return here


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry-dev")
    parser.add_argument("command", choices=["up", "down", "status", "logs"])
    parser.add_argument("--service", help="logs of this service only")
    args = parser.parse_args(argv)
    stack = Stack(_root())
    if args.command == "up":
        stack.start_infrastructure()
        stack.start_services()
        state = stack.wait_ready()
        for name, value in state.items():
            print(f"  {name:16} {value}")
        if any(v != "ready" for v in state.values()):
            print("Some services did not become ready; see `make logs`.", file=sys.stderr)
            sys.exit(1)
        from registry_platform.devstack.demo import load_demo_data

        load_demo_data(stack)
        print(f"\nThe registry is up. Open the web UI at {service_url('web')}/")
    elif args.command == "down":
        stack.down()
        print("stopped")
    elif args.command == "status":
        for name, value in stack.status().items():
            print(f"  {name:16} {value}")
    else:
        names = [args.service] if args.service else [s.name for s in SERVICES] + ["broker"]
        files = [str(stack.process(n).log_file) for n in names if stack.process(n).log_file.exists()]
        if files:
            subprocess.run(["tail", "-n", "40", *files], check=False)
