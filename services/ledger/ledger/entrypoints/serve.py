"""`python -m ledger.entrypoints.serve --port P --fronts N`: the ledger as one writer process and N
HTTP front processes (docs/ledger-performance.md).

The single writer decides and records every transaction; with fronts, it no longer also parses
HTTP, checks tokens and validates bodies, which is most of what a request costs. This process:

- binds the public TCP socket and starts N front processes that accept on it (the socket is
  inherited; every front runs the whole API, with the writer behind `ledger.adapters.writer_link`);
- runs the writer itself, serving the link on a Unix socket, and its own API (for its /ready and
  /metrics) on `http.sock`, both in a private directory it makes and removes;
- starts a front again if one dies. The fronts die with it (PR_SET_PDEATHSIG), so a SIGKILL of
  this process ends the whole ledger at once, as a crash of a single process would.

With `--fronts 0` it is plain uvicorn on the port, the writer in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import uvicorn

log = logging.getLogger("ledger.serve")

_PR_SET_PDEATHSIG = 1
_FACTORY = "ledger.bootstrap:create_app"


def _config(**kwargs: object) -> uvicorn.Config:
    return uvicorn.Config(_FACTORY, factory=True, access_log=False, lifespan="on", **kwargs)  # type: ignore[arg-type]


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the launcher goes; if it went already, go now."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


def run_front(fd: int, parent: int) -> None:
    _die_with_parent(parent)
    listening = socket.socket(fileno=fd)
    uvicorn.Server(_config()).run(sockets=[listening])


class Fronts:
    """The front processes, started from the launcher's main thread: PR_SET_PDEATHSIG fires when
    the thread that started a child ends, so they must not be started from a helper thread."""

    def __init__(self, listening: socket.socket, count: int, env: dict[str, str]) -> None:
        self._listening = listening
        self._count = count
        self._env = env
        self._procs: list[subprocess.Popen[bytes]] = []

    def _start(self) -> subprocess.Popen[bytes]:
        fd = self._listening.fileno()
        argv = [sys.executable, "-m", "ledger.entrypoints.serve", "--front-fd", str(fd), "--parent", str(os.getpid())]
        return subprocess.Popen(argv, pass_fds=[fd], env=self._env)

    async def keep_running(self) -> None:
        self._procs = [self._start() for _ in range(self._count)]
        while True:
            await asyncio.sleep(0.5)
            for i, proc in enumerate(self._procs):
                if proc.poll() is not None:
                    log.error("ledger front pid %d exited with %s; starting another", proc.pid, proc.returncode)
                    self._procs[i] = self._start()

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _writer_with_fronts(host: str, port: int, fronts: int) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="registry-ledger-"))  # mode 0700: the link's only guard
    link = str(run_dir / "writer.sock")
    os.environ["REGISTRY_WRITER_LINK"] = link
    listening = socket.create_server((host, port), backlog=2048)
    env = {**os.environ, "REGISTRY_LEDGER_ROLE": "front"}
    team = Fronts(listening, fronts, env)
    writer = uvicorn.Server(_config(uds=str(run_dir / "http.sock")))
    supervising = asyncio.create_task(team.keep_running())
    try:
        await writer.serve()
    finally:
        supervising.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervising
        team.stop()
        listening.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def command(port: int, fronts: int, host: str = "127.0.0.1") -> list[str]:
    """The command line that starts the ledger on `port` with `fronts` HTTP front processes."""
    return [
        sys.executable,
        "-m",
        "ledger.entrypoints.serve",
        "--host",
        host,
        "--port",
        str(port),
        "--fronts",
        str(fronts),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ledger.entrypoints.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fronts", type=int, default=int(os.environ.get("REGISTRY_LEDGER_FRONTS", "0")))
    parser.add_argument("--front-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.front_fd is not None:
        run_front(args.front_fd, args.parent)
        return
    if args.fronts < 0:
        parser.error("--fronts must be 0 or more")
    if args.fronts == 0:
        uvicorn.Server(_config(host=args.host, port=args.port)).run()
        return
    # uvicorn raises the signal that stopped it again once it has stopped: handled here, so that
    # the fronts are stopped in order rather than killed with this process.
    signal.signal(signal.SIGTERM, lambda *_: None)
    asyncio.run(_writer_with_fronts(args.host, args.port, args.fronts))


if __name__ == "__main__":
    main()
