"""One fetch at a time per dataset, across processes (POSIX file locks: Linux, macOS and WSL,
which is what the README asks Windows users to run the course in)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

__all__ = ["dataset_lock"]


@contextlib.contextmanager
def dataset_lock(base: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<base>/<name>.lock`` so that two processes (two notebooks,
    two students on a shared disk) never extract the same dataset at once; the second waits."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
