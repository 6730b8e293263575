"""One fetch at a time per dataset, across processes, on Linux, macOS and Windows alike.

``filelock`` takes an operating-system lock where there is one (``fcntl.flock`` on Linux and
macOS, ``msvcrt.locking`` on Windows) and falls back to a lock file where neither exists, so no
code here assumes POSIX."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

__all__ = ["dataset_lock"]


@contextlib.contextmanager
def dataset_lock(base: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<base>/<name>.lock`` so that two processes (two notebooks,
    two students on a shared disk) never extract the same dataset at once; the second waits."""
    base.mkdir(parents=True, exist_ok=True)
    with FileLock(base / f"{name}.lock"):
        yield
