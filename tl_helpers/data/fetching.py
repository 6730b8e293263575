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

import os
import shutil
import time
from http.client import HTTPException
from pathlib import Path
from urllib.error import URLError

from tl_helpers import config
from tl_helpers.data.archives import safe_extract
from tl_helpers.data.catalog import DatasetSpec, get_spec
from tl_helpers.data.download import download
from tl_helpers.data.locking import dataset_lock
from tl_helpers.data.verify import check_dataset, fingerprint
from tl_helpers.errors import DatasetIntegrityError, DatasetUnavailableError
from tl_helpers.fingerprints import file_digest
from tl_helpers.storage import atomic_path, read_json, save_json

__all__ = ["RECORDED_CHECKSUMS", "STAMP_NAME", "fetch", "locate", "verify_archive"]

STAMP_NAME = "verified.json"  # per dataset: which folders were checked, and their fingerprint
RECORDED_CHECKSUMS = "recorded_checksums.json"  # sha256 of archives that had none published
DATA_FIX = (
    "Free some space there, or set TL_DATA_DIR (or data_dir=) to a folder on a disk with room"
)


def _say(message: str, verbose: bool) -> None:
    if verbose:
        print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def fetch(
    name: str | DatasetSpec,
    *,
    mirror: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = True,
) -> Path:
    """Make dataset ``name`` available and checked; return the folder that holds its class folders.

    Safe to call at the top of every notebook: a second call finds the checked copy and returns
    at once. See the module docstring for where the data comes from. ``name`` may also be a
    ``DatasetSpec`` for a dataset that is not in the course catalog.
    """
    spec = name if isinstance(name, DatasetSpec) else get_spec(name)
    base = config.data_dir(data_dir)
    mirror_root = config.mirror_dir(mirror)
    with dataset_lock(base, spec.name):
        if mirror_root is not None:
            return _use_mirror(spec, mirror_root, base, verbose)
        return _use_download(spec, base, verbose)


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
    stamps = read_json(config.data_dir(data_dir) / spec.name / STAMP_NAME)
    return root if str(root) in stamps and root.is_dir() else None


# --------------------------------------------------------------------------------------------
# Mirror and local copies
# --------------------------------------------------------------------------------------------


def _use_mirror(spec: DatasetSpec, mirror_root: Path, base: Path, verbose: bool) -> Path:
    root = mirror_root / spec.folder
    if not root.is_dir():
        raise DatasetUnavailableError(
            f"Dataset {spec.name!r}: the mirror {mirror_root} (from TL_MIRROR or mirror=) has no folder "
            f"{spec.folder}/. Put a copy of the extracted {spec.archive} there, point TL_MIRROR at the "
            "folder that contains it, or unset TL_MIRROR to download from the internet."
        )
    return _checked(spec, root, base, source="mirror", verbose=verbose)


def _checked(spec: DatasetSpec, root: Path, base: Path, *, source: str, verbose: bool) -> Path:
    """Check ``root`` once; later calls see the same fingerprint and skip the work."""
    stamp_path = base / spec.name / STAMP_NAME
    stamps = read_json(stamp_path)
    current = fingerprint(root, spec)
    if stamps.get(str(root), {}).get("fingerprint") == current:
        counts = stamps[str(root)]["counts"]
        _say(
            f"{spec.name}: already available and checked at {config.display_path(root)} ({sum(counts.values())} images); nothing to do.",
            verbose,
        )
        return root
    _say(f"{spec.name}: checking {config.display_path(root)} ({source}) ...", verbose)
    report = check_dataset(
        spec, root, strict=(source == "download"), use_manifest=(source == "mirror")
    )
    _say(report.summary(), verbose)
    stamps[str(root)] = {
        "fingerprint": current,
        "counts": report.counts,
        "source": source,
        "checked_at": time.time(),
    }
    save_json(stamp_path, stamps)
    return root


def _use_download(spec: DatasetSpec, base: Path, verbose: bool) -> Path:
    home = base / spec.name
    root = home / spec.folder
    if root.is_dir():
        try:
            return _checked(spec, root, base, source="download", verbose=verbose)
        except DatasetIntegrityError as error:
            _say(
                f"{spec.name}: the copy at {config.display_path(root)} failed its check ({error}); extracting it again.",
                verbose,
            )
            shutil.rmtree(root)
    archive = _obtain_archive(spec, base, verbose)
    _extract_and_install(spec, archive, home, verbose)
    _record_checksum(spec, archive, base)
    return _checked(spec, root, base, source="download", verbose=verbose)


# --------------------------------------------------------------------------------------------
# Archives: obtain, verify, extract
# --------------------------------------------------------------------------------------------


def _obtain_archive(spec: DatasetSpec, base: Path, verbose: bool) -> Path:
    archive = base / "downloads" / spec.archive
    if archive.exists():
        _say(f"{spec.name}: using the archive already at {config.display_path(archive)}", verbose)
    else:
        try:
            download(
                spec.url, archive, expected_bytes=spec.archive_bytes, verbose=verbose, fix=DATA_FIX
            )
        except (URLError, HTTPException, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", None) or error
            raise DatasetUnavailableError(
                _unavailable_message(spec, archive, f"{spec.url} failed: {reason}")
            ) from error
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
    recorded = read_json(base / RECORDED_CHECKSUMS).get(spec.name, {}) if base else {}
    expected = expected or recorded.get("sha256")
    if expected is None:
        return  # nothing to compare with yet: contents are checked after extraction
    actual = file_digest(archive)
    if actual != expected:
        origin = (
            "published"
            if spec.archive_sha256 or base is None
            else f"recorded after the first good download (in {base / RECORDED_CHECKSUMS})"
        )
        if spec.archive_sha256:
            archive.unlink()
        raise DatasetIntegrityError(
            f"{spec.name}: sha256 of {archive} is {actual}, expected {expected} ({origin}). "
            + (
                "It was deleted: run again to download it afresh."
                if spec.archive_sha256
                else "Delete the archive to download it again; if the source really changed, delete the recorded entry too."
            )
        )


def _record_checksum(spec: DatasetSpec, archive: Path, base: Path) -> None:
    if spec.archive_sha256:
        return
    path = base / RECORDED_CHECKSUMS
    recorded = read_json(path)
    if spec.name not in recorded:
        recorded[spec.name] = {
            "sha256": file_digest(archive),
            "bytes": archive.stat().st_size,
            "url": spec.url,
        }
        save_json(path, recorded)


def _extract_and_install(spec: DatasetSpec, archive: Path, home: Path, verbose: bool) -> None:
    target = home / spec.folder
    # Left by a run that was killed outright (Ctrl-C and errors clean up after themselves); the
    # dataset lock keeps another fetch of this dataset from being in the middle of one.
    for stale in [*home.glob(f".{spec.folder}.*.partial"), home / ".extracting"]:
        shutil.rmtree(stale, ignore_errors=True)
    # Whole or absent: checked before it takes its name; a full or read-only disk ends in one
    # line, and the checked archive stays for the rerun.
    needed = archive.stat().st_size
    with atomic_path(target, suffix="", needed_bytes=needed, fix=DATA_FIX) as temporary:
        _say(f"{spec.name}: extracting {archive.name} ...", verbose)
        unpacked = temporary.parent / "archive"
        safe_extract(archive, unpacked)
        if not (unpacked / spec.folder).is_dir():
            raise DatasetIntegrityError(
                f"{spec.name}: {archive} has no top-level folder {spec.folder}/; it is not the catalogued archive. "
                "Delete it and run again."
            )
        os.replace(unpacked / spec.folder, temporary)
        check_dataset(spec, temporary, strict=True)
