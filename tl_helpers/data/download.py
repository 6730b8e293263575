"""Downloading one file over HTTP with a progress bar, resuming an interrupted transfer."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, build_opener

from tl_helpers.storage import StorageError, disk_errors

__all__ = ["ProgressBar", "download"]


class ProgressBar:
    """A one-line text progress bar that works in a terminal and in a notebook."""

    def __init__(
        self, total: int | None, label: str, verbose: bool = True, width: int = 30
    ) -> None:
        self.total, self.label, self.verbose, self.width = total, label, verbose, width
        self.done = 0
        self._last_draw = 0.0

    def update(self, amount: int) -> None:
        self.done += amount
        if self.verbose and time.monotonic() - self._last_draw > 0.25:
            self._draw()

    def close(self) -> None:
        if self.verbose:
            self._draw()
            sys.stdout.write("\n")
            sys.stdout.flush()

    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        megabytes = f"{self.done / 1e6:.1f}"
        if self.total:
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            line = f"\r{self.label} [{bar}] {100 * self.done / self.total:3.0f}% {megabytes}/{self.total / 1e6:.1f} MB"
        else:
            line = f"\r{self.label} {megabytes} MB"
        sys.stdout.write(line)
        sys.stdout.flush()


def download(
    url: str,
    destination: Path,
    *,
    expected_bytes: int | None = None,
    verbose: bool = True,
    timeout: float = 30.0,
    chunk_size: int = 1 << 16,
    fix: str | None = None,
) -> Path:
    """Download ``url`` to ``destination`` with a progress bar.

    Bytes go to ``destination.part`` first; an interrupted download is resumed from there with an
    HTTP Range request (or restarted if the server ignores it). Only a complete file is renamed
    to ``destination``. Network errors are raised as they come (``URLError`` and friends); a disk
    that refuses the bytes ends in a ``StorageError`` with ``fix`` as its advice, and the partial
    file goes (it could never be completed there).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    response, offset = _open(url, partial, expected_bytes, timeout)
    with response:
        resumed = offset > 0 and response.status == 206
        offset = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else expected_bytes
        progress = ProgressBar(total, f"downloading {destination.name}", verbose)
        progress.update(offset)
        if resumed and verbose:
            print(f"resuming {destination.name} at {offset:,} bytes", flush=True)
        try:
            with (
                disk_errors(destination, total, fix),
                open(partial, "ab" if resumed else "wb") as out,
            ):
                while chunk := response.read(chunk_size):
                    out.write(chunk)
                    progress.update(len(chunk))
        except StorageError:
            partial.unlink(missing_ok=True)  # a full disk: start afresh once there is room
            raise
        progress.close()
    received = partial.stat().st_size
    if total is not None and received != total:
        raise ConnectionError(
            f"the connection closed after {received:,} of {total:,} bytes of {url}; "
            f"the partial file {partial} is kept, run again to resume"
        )
    os.replace(partial, destination)
    return destination


def _open(url: str, partial: Path, expected_bytes: int | None, timeout: float) -> tuple[Any, int]:
    """The server's response, asked to resume after what ``partial`` holds, and that offset
    (0: from the start). A partial file the server does not recognise goes, and the download
    starts over."""
    offset = partial.stat().st_size if partial.exists() else 0
    if expected_bytes is not None and offset >= expected_bytes:
        partial.unlink()  # complete (or too long) but never renamed: start over and let checks decide
        offset = 0
    headers = {"User-Agent": "tl_helpers (transfer learning course)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        # A fresh opener reads the proxy settings now, not those of whoever called urlopen first.
        return build_opener().open(Request(url, headers=headers), timeout=timeout), offset
    except HTTPError as error:
        if error.code != 416 or not offset:
            raise
    partial.unlink()  # 416: our partial file is not a prefix the server recognises
    del headers["Range"]
    return build_opener().open(Request(url, headers=headers), timeout=timeout), 0
