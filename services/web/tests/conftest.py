"""Fixtures the web's tests share: axe-core for the accessibility checks."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import warnings
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parent / "browser" / "vendor"
AXE_VERSION = "4.14.1"


@pytest.fixture(scope="session")
def axe() -> str | None:
    source = axe_source()
    if source is None:
        warnings.warn("axe-core could not be fetched from npm: pages are not checked with it", stacklevel=1)
    return source


def axe_source() -> str | None:
    """axe-core's browser build, fetched once from npm into vendor/ (None if npm cannot)."""
    target = VENDOR / f"axe-{AXE_VERSION}.min.js"
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        VENDOR.mkdir(exist_ok=True)
        try:
            subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(VENDOR)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            archive = next(VENDOR.glob(f"axe-core-{AXE_VERSION}.tgz"))
            with tarfile.open(archive) as tar:
                member = tar.extractfile("package/axe.min.js")
                assert member is not None
                target.write_bytes(member.read())
            archive.unlink()
        except (subprocess.SubprocessError, OSError, StopIteration, KeyError):
            return None
    return target.read_text()
