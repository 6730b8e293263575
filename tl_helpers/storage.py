"""Files the course writes and reads back later: whole or not at all.

A cache entry (pooled features, activations, converted weights), a saved model or a small JSON
record is read later as if it were complete, so it must never exist half-written:

- ``atomic_path`` hands out a temporary path in a scratch folder beside the target, unique to
  this write, and moves the finished file or folder into place with one rename. Ctrl-C, a full
  disk or a crash leaves the target as it was (absent, or the previous complete version) and
  removes the scratch folder. Two processes writing the same entry at once each write their own
  copy; the last rename wins (or, with ``keep_existing``, the first) and a reader sees one whole
  version, never a mixture. Exports, the export cache and dataset extraction use it too.
- ``read_arrays`` reads a cache entry completely (every array, with the zip's checksums) and treats
  one that cannot be read (truncated by a disk that filled up before this code existed, a copy
  cut short, a bad sector) as missing: a warning names the file, the caller recomputes it and
  ``save_arrays`` replaces it.
- ``disk_errors`` turns what the operating system says when a write cannot happen (a full disk,
  a quota, a read-only disk, no permission, a folder gone) into one ``StorageError`` line: which
  folder, roughly how much space the write needed and how much is free, and what to do. Every
  writer of the course goes through it: ``atomic_path`` here, exports, downloads, extraction.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tl_helpers import config
from tl_helpers.errors import CourseError, CourseWarning

__all__ = [
    "StorageError",
    "atomic_path",
    "disk_errors",
    "read_arrays",
    "read_json",
    "rows_match",
    "save_arrays",
    "save_json",
]


class StorageError(CourseError):
    """A file or folder could not be written: the disk is full, read-only or not this user's."""


_DISK_PROBLEMS = {
    errno.ENOSPC: "is full",
    errno.EDQUOT: "is over its disk quota",
    errno.EROFS: "is on a read-only disk",
    errno.EACCES: "cannot be written by this user",
    errno.EPERM: "cannot be written by this user",
    errno.ENOENT: "does not exist (was it removed while the course wrote to it?)",
}


def _size(count: float) -> str:
    if count < 2**20:
        return f"{max(1, round(count / 2**10))} KB"
    return f"{count / 2**20:,.1f} MB" if count < 2**30 else f"{count / 2**30:,.1f} GB"


def _fix_for(folder: Path) -> str:
    """What to do about ``folder``: the setting that moves it, when one does."""
    settings = {
        "TL_CACHE_DIR": Path(os.environ.get("TL_CACHE_DIR") or config.USER_CACHE_DIR),
        "TL_DATA_DIR": Path(os.environ.get("TL_DATA_DIR") or config.DATASETS_DIR / "data"),
    }
    for variable, root in settings.items():
        if folder.resolve().is_relative_to(root.expanduser().resolve()):
            return f"Free some space there, or set {variable} to a folder on a disk with room"
    return "Free some space there, or write to a folder on another disk"


@contextlib.contextmanager
def disk_errors(
    target: str | os.PathLike[str], needed_bytes: int | None = None, fix: str | None = None
) -> Iterator[None]:
    """Run a write of ``target`` (a file or folder; ``needed_bytes`` its rough size, if known);
    an ``OSError`` of the kinds above becomes one ``StorageError`` that names the folder and
    ``fix`` (default: the setting that moves the folder, when one does)."""
    try:
        yield
    except OSError as error:
        problem = _DISK_PROBLEMS.get(error.errno or -1)
        if problem is None:
            raise
        folder = Path(target).parent
        existing = next((f for f in (folder, *folder.parents) if f.exists()), folder)
        free = shutil.disk_usage(existing).free if existing.exists() else None
        amounts = [f"about {_size(needed_bytes)} needed" if needed_bytes else ""]
        amounts.append(f"{_size(free)} free" if free is not None and problem == "is full" else "")
        detail = ", ".join(a for a in amounts if a)
        raise StorageError(
            f"cannot write {Path(target).name}: the folder {folder} {problem}"
            + (f" ({detail})" if detail else "")
            + f"; nothing half-written was kept. {fix or _fix_for(existing)}, then run again."
        ) from error


# What NumPy and zipfile raise on a damaged .npz: not a zip, a bad checksum, a member cut short,
# a header that does not parse, an array missing.
_UNREADABLE = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError)


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str],
    suffix: str | None = None,
    needed_bytes: int | None = None,
    *,
    fix: str | None = None,
    keep_existing: bool = False,
) -> Iterator[Path]:
    """A temporary path to write ``target`` to, a file or a whole folder; moved onto ``target``
    when the block ends normally (an earlier folder there is replaced only then), deleted when it
    raises (``KeyboardInterrupt`` included). ``keep_existing``: a ``target`` that appeared in the
    meantime (another process wrote the same entry) stays, and this copy goes.

    The path lies in a scratch folder of its own beside ``target``, unique to this write; the
    writer may use that folder (``path.parent``) for anything else it needs, and it goes too.
    ``suffix`` defaults to the target's, for writers that insist on one (``.keras``, ``.npz``).
    A write the disk refuses ends in a ``StorageError`` (``disk_errors``, with ``needed_bytes``
    and ``fix``)."""
    target = Path(target)
    ending = target.suffix if suffix is None else suffix
    with disk_errors(target, needed_bytes, fix):
        target.parent.mkdir(parents=True, exist_ok=True)
        # Created by this process for this write, so the file gets the same permissions as any
        # other (a shared classroom cache stays readable by everyone).
        scratch = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
        scratch.mkdir()
        try:
            temporary = scratch / f"{target.stem}{ending}"
            yield temporary
            _move_into_place(temporary, target, scratch, keep_existing)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _move_into_place(temporary: Path, target: Path, scratch: Path, keep_existing: bool) -> None:
    if keep_existing and os.path.lexists(target):
        return
    # os.replace swaps a file for a file in one step; a folder (or a file where a folder goes)
    # is first moved aside into the scratch folder, which is deleted with it.
    if os.path.lexists(target) and (
        temporary.is_dir() or (target.is_dir() and not target.is_symlink())
    ):
        target.rename(scratch / "previous")
    os.replace(temporary, target)


def save_arrays(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """Write named arrays to an ``.npz`` file atomically (see ``atomic_path``)."""
    path = Path(path)
    objects = [name for name, values in arrays.items() if np.asarray(values).dtype == object]
    if objects:  # they would be pickled, and the cache is read with allow_pickle=False
        raise ValueError(f"save_arrays stores numbers and strings only; {objects} hold objects")
    needed = sum(np.asarray(values).nbytes for values in arrays.values())
    with atomic_path(path, suffix=".npz", needed_bytes=needed) as temporary:
        with open(temporary, "wb") as out:
            # No allow_pickle= here: NumPy 2.0 would store it as one more array (no objects anyway).
            np.savez(out, **arrays)  # pyright: ignore[reportArgumentType]
            out.flush()
            os.fsync(out.fileno())
    return path


def read_arrays(
    path: str | os.PathLike[str],
    names: tuple[str, ...],
    check: Callable[[dict[str, np.ndarray]], str | None] | None = None,
) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` of the ``.npz`` cache entry ``path`` (``names=()``: all of them), read
    in full; ``None`` when the file does not exist, or when it cannot be read or ``check`` (which
    returns a reason, or ``None`` when the arrays are fine) rejects it: then with a
    ``CourseWarning`` naming the file, so that the caller recomputes and replaces it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            wanted = names or tuple(stored.files)
            arrays = {name: np.asarray(stored[name]) for name in wanted}
        reason = check(arrays) if check is not None else None
    except _UNREADABLE as error:
        reason = f"{type(error).__name__}: {error}"
    if reason is None:
        return arrays
    warnings.warn(
        f"the cache file {path} is damaged ({reason}); computing it again and replacing it "
        "(if this keeps happening, check the disk or delete the cache folder)",
        CourseWarning,
        stacklevel=2,
    )
    return None


def rows_match(count: int) -> Callable[[dict[str, np.ndarray]], str | None]:
    """A ``check`` for ``read_arrays``: every array has ``count`` rows (one per file of a split)."""

    def check(arrays: dict[str, np.ndarray]) -> str | None:
        wrong = {name: len(values) for name, values in arrays.items() if len(values) != count}
        return f"rows {wrong} where {count} were expected" if wrong else None

    return check


def save_json(path: str | os.PathLike[str], record: object) -> Path:
    """Write ``record`` as indented JSON atomically (see ``atomic_path``)."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    return path


def read_json(path: str | os.PathLike[str]) -> dict:
    """A small JSON record written by ``save_json``; an empty dict when it is missing or cannot be
    read (it is then rebuilt, as a cache entry would be)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
