"""Where the real clients live: versioned kubectl binaries and helm."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _search_dirs() -> list[Path]:
    dirs = [ROOT / ".tools" / "bin"]
    k = shutil.which("kubectl")
    if k:
        dirs.append(Path(os.path.realpath(k)).parent)
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    return dirs


def kubectl_path(version: str) -> str | None:
    """The binary for kubectl ``version`` (e.g. "1.33"), or None."""
    for d in _search_dirs():
        p = d / f"kubectl.{version}"
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def helm_path() -> str | None:
    for d in _search_dirs():
        p = d / "helm"
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None
