"""Getting a dataset onto this machine: from a mirror folder, a local archive, or the internet.

The order of preference is always the same and is reported when nothing works:

1. a mirror (``mirror=`` argument or the ``TL_MIRROR`` environment variable) is used in place;
2. otherwise a verified copy already extracted in the data folder is reused ("nothing to do");
3. otherwise an archive in ``<data dir>/downloads/`` is used (put one there by hand to work offline);
4. otherwise the archive is downloaded, resuming a partial download if one is there.

An archive is checked (size, sha256) and extracted into a temporary folder; its contents are
checked (counts per class, every image decodes) and only then moved into place, so an
interrupted run never leaves a half-extracted dataset that later passes as complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.request import Request, build_opener

from tl_helpers import config
from tl_helpers.data.catalog import DatasetSpec, get_spec
from tl_helpers.data.verify import check_dataset, file_sha256, fingerprint, load_stamp, save_stamp
from tl_helpers.errors import DatasetIntegrityError, DatasetUnavailableError, UnsafeArchiveError

STAMP_NAME = "verified.json"  # per dataset: which folders were checked, and their fingerprint
RECORDED_CHECKSUMS = "recorded_checksums.json"  # sha256 of archives that had none published


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def fetch(
    name: str | DatasetSpec,
    *,
    mirror: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> Path:
    """Make dataset ``name`` available and checked; return the folder that holds its class folders.

    Safe to call at the top of every notebook: a second call finds the checked copy and returns
    at once. See the module docstring for where the data comes from. ``name`` may also be a
    ``DatasetSpec`` for a dataset that is not in the course catalog.
    """
    spec = name if isinstance(name, DatasetSpec) else get_spec(name)
    base = config.data_dir(data_dir)
    mirror_root = config.mirror_dir(mirror)
    with _dataset_lock(base, spec.name):
        if mirror_root is not None:
            return _use_mirror(spec, mirror_root, base, quiet)
        return _use_download(spec, base, quiet)


def locate(
    name: str | DatasetSpec,
    *,
    mirror: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Path | None:
    """Where dataset ``name`` is (mirror or a checked download), without fetching; ``None`` if nowhere."""
    spec = name if isinstance(name, DatasetSpec) else get_spec(name)
    mirror_root = config.mirror_dir(mirror)
    if mirror_root is not None and (mirror_root / spec.folder).is_dir():
        return mirror_root / spec.folder
    root = config.data_dir(data_dir) / spec.name / spec.folder
    stamps = load_stamp(config.data_dir(data_dir) / spec.name / STAMP_NAME)
    return root if str(root) in stamps and root.is_dir() else None


# --------------------------------------------------------------------------------------------
# Mirror and local copies
# --------------------------------------------------------------------------------------------


def _use_mirror(spec: DatasetSpec, mirror_root: Path, base: Path, quiet: bool) -> Path:
    root = mirror_root / spec.folder
    if not root.is_dir():
        raise DatasetUnavailableError(
            f"Dataset {spec.name!r}: the mirror {mirror_root} (from TL_MIRROR or mirror=) has no folder "
            f"{spec.folder}/. Put a copy of the extracted {spec.archive} there, point TL_MIRROR at the "
            "folder that contains it, or unset TL_MIRROR to download from the internet."
        )
    return _checked(spec, root, base, source="mirror", quiet=quiet)


def _checked(spec: DatasetSpec, root: Path, base: Path, *, source: str, quiet: bool) -> Path:
    """Check ``root`` once; later calls see the same fingerprint and skip the work."""
    stamp_path = base / spec.name / STAMP_NAME
    stamps = load_stamp(stamp_path)
    current = fingerprint(root, spec)
    if stamps.get(str(root), {}).get("fingerprint") == current:
        counts = stamps[str(root)]["counts"]
        _say(f"{spec.name}: already available and checked at {config.display_path(root)} ({sum(counts.values())} images); nothing to do.", quiet)
        return root
    _say(f"{spec.name}: checking {config.display_path(root)} ({source}) ...", quiet)
    report = check_dataset(spec, root, strict=(source == "download"), use_manifest=(source == "mirror"))
    _say(report.summary(), quiet)
    stamps[str(root)] = {"fingerprint": current, "counts": report.counts, "source": source, "checked_at": time.time()}
    save_stamp(stamp_path, stamps)
    return root


def _use_download(spec: DatasetSpec, base: Path, quiet: bool) -> Path:
    home = base / spec.name
    root = home / spec.folder
    if root.is_dir():
        try:
            return _checked(spec, root, base, source="download", quiet=quiet)
        except DatasetIntegrityError as error:
            _say(f"{spec.name}: the copy at {config.display_path(root)} failed its check ({error}); extracting it again.", quiet)
            shutil.rmtree(root)
    archive = _obtain_archive(spec, base, quiet)
    _extract_and_install(spec, archive, home, quiet)
    _record_checksum(spec, archive, base)
    return _checked(spec, root, base, source="download", quiet=quiet)


# --------------------------------------------------------------------------------------------
# Archives: obtain, verify, extract
# --------------------------------------------------------------------------------------------


def _obtain_archive(spec: DatasetSpec, base: Path, quiet: bool) -> Path:
    archive = base / "downloads" / spec.archive
    if archive.exists():
        _say(f"{spec.name}: using the archive already at {config.display_path(archive)}", quiet)
    else:
        try:
            download(spec.url, archive, expected_bytes=spec.archive_bytes, quiet=quiet)
        except (URLError, HTTPException, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", None) or error
            raise DatasetUnavailableError(_unavailable_message(spec, archive, f"{spec.url} failed: {reason}")) from error
    verify_archive(spec, archive, base)
    return archive


def _unavailable_message(spec: DatasetSpec, archive: Path, download_result: str) -> str:
    return (
        f"Could not get dataset {spec.name!r} ({spec.title}).\n"
        "Tried, in order:\n"
        "  1. a mirror: TL_MIRROR is not set and no mirror= argument was given\n"
        f"  2. a local archive: {archive} does not exist\n"
        f"  3. downloading {download_result}\n"
        "Fix it in one of two ways:\n"
        f"  - set TL_MIRROR to a folder that contains {spec.folder}/ (for example a teacher's USB copy):\n"
        "        export TL_MIRROR=/path/to/mirror     (or fetch(..., mirror='/path/to/mirror'))\n"
        f"  - download {spec.url} on a machine with internet and save it as\n"
        f"        {archive}\n"
        "    then run this again."
    )


def verify_archive(spec: DatasetSpec, archive: Path, base: Path | None = None) -> None:
    """Check an archive's size and sha256 against the catalog, or against the checksum recorded
    after the first good download when none is published. A corrupt archive is deleted so that
    the next run downloads it again."""
    size = archive.stat().st_size
    if spec.archive_bytes is not None and size != spec.archive_bytes:
        archive.unlink()
        raise DatasetIntegrityError(
            f"{spec.name}: {archive} has {size:,} bytes but the published archive has {spec.archive_bytes:,}; "
            "it is incomplete or a different file. It was deleted: run again to download it afresh."
        )
    expected = spec.archive_sha256
    recorded = load_stamp(base / RECORDED_CHECKSUMS).get(spec.name, {}) if base else {}
    expected = expected or recorded.get("sha256")
    if expected is None:
        return  # nothing to compare with yet: contents are checked after extraction
    actual = file_sha256(archive)
    if actual != expected:
        origin = "published" if spec.archive_sha256 else f"recorded after the first good download (in {base / RECORDED_CHECKSUMS})"
        if spec.archive_sha256:
            archive.unlink()
        raise DatasetIntegrityError(
            f"{spec.name}: sha256 of {archive} is {actual}, expected {expected} ({origin}). "
            + ("It was deleted: run again to download it afresh." if spec.archive_sha256 else
               "Delete the archive to download it again; if the source really changed, delete the recorded entry too.")
        )


def _record_checksum(spec: DatasetSpec, archive: Path, base: Path) -> None:
    if spec.archive_sha256:
        return
    path = base / RECORDED_CHECKSUMS
    recorded = load_stamp(path)
    if spec.name not in recorded:
        recorded[spec.name] = {"sha256": file_sha256(archive), "bytes": archive.stat().st_size, "url": spec.url}
        save_stamp(path, recorded)


def _extract_and_install(spec: DatasetSpec, archive: Path, home: Path, quiet: bool) -> None:
    staging = home / ".extracting"
    shutil.rmtree(staging, ignore_errors=True)  # left over from an interrupted run
    try:
        _say(f"{spec.name}: extracting {archive.name} ...", quiet)
        safe_extract(archive, staging)
        extracted = staging / spec.folder
        if not extracted.is_dir():
            raise DatasetIntegrityError(
                f"{spec.name}: {archive} has no top-level folder {spec.folder}/; it is not the catalogued archive. "
                "Delete it and run again."
            )
        check_dataset(spec, extracted, strict=True)
        os.replace(extracted, home / spec.folder)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DatasetUnavailableError(
                f"{spec.name}: the disk holding {home} filled up while extracting {archive.name}. "
                "Nothing was kept; free some space (or set TL_DATA_DIR to a bigger disk) and run again."
            ) from error
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _member_destination(target: Path, name: str) -> Path:
    """Where an archive member would land; refuses anything outside ``target``."""
    if not name or name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path; refusing to extract the archive")
    destination = (target / name).resolve()
    if not destination.is_relative_to(target.resolve()):
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {target}; refusing to extract the archive")
    return destination


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip or tar(.gz) archive into ``target``, refusing any member that would land
    outside it (``..``, absolute paths) and any link or device member. Every member is checked
    before anything is written."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                members = bundle.infolist()
                for member in members:
                    _member_destination(target, member.filename)
                    if (member.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(f"archive member {member.filename!r} is a symbolic link; refusing to extract")
                for member in members:
                    bundle.extract(member, target)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as bundle:
                members = bundle.getmembers()
                for member in members:
                    _member_destination(target, member.name)
                    if not (member.isfile() or member.isdir()):
                        raise UnsafeArchiveError(f"archive member {member.name!r} is a link or special file; refusing to extract")
                bundle.extractall(target, members=members, filter="data")
        else:
            raise DatasetIntegrityError(f"{archive} is not a readable zip or tar archive (truncated or corrupt); delete it and download again")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DatasetIntegrityError(f"{archive} is truncated or corrupt ({error}); delete it and download again") from error
    except OSError as error:
        if "zlib" in str(error).lower() or "compressed file ended" in str(error).lower():
            raise DatasetIntegrityError(f"{archive} is truncated or corrupt ({error}); delete it and download again") from error
        raise


# --------------------------------------------------------------------------------------------
# Download with progress and resume
# --------------------------------------------------------------------------------------------


class ProgressBar:
    """A one-line text progress bar that works in a terminal and in a notebook."""

    def __init__(self, total: int | None, label: str, quiet: bool = False, width: int = 30) -> None:
        self.total, self.label, self.quiet, self.width = total, label, quiet, width
        self.done = 0
        self._last_draw = 0.0

    def update(self, amount: int) -> None:
        self.done += amount
        if not self.quiet and time.monotonic() - self._last_draw > 0.25:
            self._draw()

    def close(self) -> None:
        if not self.quiet:
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
    quiet: bool = False,
    timeout: float = 30.0,
    chunk_size: int = 1 << 16,
) -> Path:
    """Download ``url`` to ``destination`` with a progress bar.

    Bytes go to ``destination.part`` first; an interrupted download is resumed from there with an
    HTTP Range request (or restarted if the server ignores it). Only a complete file is renamed
    to ``destination``. Network errors are raised as they come (``URLError`` and friends).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    if expected_bytes is not None and offset >= expected_bytes:
        partial.unlink()  # complete (or too long) but never renamed: start over and let checks decide
        offset = 0
    headers = {"User-Agent": "tl_helpers (transfer learning course)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        # A fresh opener reads the proxy settings now, not those of whoever called urlopen first.
        response = build_opener().open(Request(url, headers=headers), timeout=timeout)
    except HTTPError as error:
        if error.code == 416 and offset:  # our partial file is not a prefix the server recognises
            partial.unlink()
            return download(url, destination, expected_bytes=expected_bytes, quiet=quiet, timeout=timeout, chunk_size=chunk_size)
        raise
    with response:
        resumed = offset > 0 and response.status == 206
        if not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else expected_bytes
        progress = ProgressBar(total, f"downloading {destination.name}", quiet)
        progress.update(offset)
        if resumed:
            _say(f"resuming {destination.name} at {offset:,} bytes", quiet)
        with open(partial, "ab" if resumed else "wb") as out:
            while chunk := response.read(chunk_size):
                out.write(chunk)
                progress.update(len(chunk))
        progress.close()
    received = partial.stat().st_size
    if total is not None and received != total:
        raise ConnectionError(
            f"the connection closed after {received:,} of {total:,} bytes of {url}; "
            f"the partial file {partial} is kept, run again to resume"
        )
    os.replace(partial, destination)
    return destination


# --------------------------------------------------------------------------------------------
# One fetch at a time per dataset, across processes
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _dataset_lock(base: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<base>/<name>.lock`` so that two processes (two notebooks,
    two students on a shared disk) never extract the same dataset at once; the second waits."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{name}.lock", "a+b") as handle:
        if os.name == "nt":  # pragma: no cover - Windows laptops
            import msvcrt

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.5)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
