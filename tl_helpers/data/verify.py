"""Checks that a dataset folder holds what the catalog says: counts, decodable images, checksums."""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tl_helpers.data.catalog import DatasetSpec
from tl_helpers.data.images import image_problem, is_image_name
from tl_helpers.errors import CourseWarning, DatasetIntegrityError
from tl_helpers.fingerprints import file_digest
from tl_helpers.storage import atomic_path

__all__ = [
    "DatasetReport",
    "check_dataset",
    "dataset_files",
    "fingerprint",
    "read_manifest",
    "write_manifest",
]


def dataset_files(root: Path, spec: DatasetSpec) -> dict[str, list[Path]]:
    """Image files of each class folder named in the catalog (missing folders give empty lists)."""
    files = {}
    for class_dir in spec.expected_counts:
        folder = Path(root) / class_dir
        files[class_dir] = (
            sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p))
            if folder.is_dir()
            else []
        )
    return files


def fingerprint(root: Path, spec: DatasetSpec) -> str:
    """A cheap signature of the folder (names, sizes, modification times) to tell if it changed."""
    digest = hashlib.sha256()
    for class_dir, paths in dataset_files(root, spec).items():
        for path in paths:
            info = path.stat()
            digest.update(f"{class_dir}/{path.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """Read a ``sha256  relative/path`` manifest (the format of ``sha256sum``)."""
    entries = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, relpath = line.split(maxsplit=1)
            entries[relpath.strip()] = digest
    return entries


def write_manifest(root: Path, spec: DatasetSpec, out_path: Path) -> int:
    """Write the per-file sha256 manifest of a complete dataset folder; returns the file count."""
    lines = [
        f"{file_digest(path)}  {class_dir}/{path.name}"
        for class_dir, paths in dataset_files(root, spec).items()
        for path in paths
    ]
    with atomic_path(out_path) as temporary:  # whole or not at all; a full disk is one line
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


@dataclass
class DatasetReport:
    """What a check of a dataset folder found."""

    name: str
    root: Path
    counts: dict[str, int]
    expected: dict[str, int]
    manifest_mismatches: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        return self.counts == self.expected

    def summary(self) -> str:
        expected_total = sum(self.expected.values())
        from tl_helpers.config import display_path

        lines = [f"{self.name}: {self.total} images in {display_path(self.root)}"]
        if not self.complete:
            lines[0] += f" (a subset: the full dataset has {expected_total})"
        for class_dir, count in self.counts.items():
            lines.append(f"  {class_dir:<18} {count:>5} of {self.expected[class_dir]}")
        return "\n".join(lines)


def _undecodable(paths: list[Path]) -> list[tuple[Path, str]]:
    workers = min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
        problems = list(pool.map(image_problem, paths))
    return [(path, problem) for path, problem in zip(paths, problems) if problem]


def check_dataset(
    spec: DatasetSpec, root: Path, *, strict: bool, use_manifest: bool = False
) -> DatasetReport:
    """Check a dataset folder against the catalog and return what was found.

    ``strict`` (a fresh download): every count must match the catalog exactly. Otherwise (a
    mirror, which may hold a subset) counts are only reported, but a class with no images at
    all is still an error. Every image must decode in both cases. ``use_manifest`` compares each
    file with the per-file checksum list and reports the names that differ as a warning.
    """
    root = Path(root)
    files = dataset_files(root, spec)
    counts = {class_dir: len(paths) for class_dir, paths in files.items()}
    report = DatasetReport(spec.name, root, counts, dict(spec.expected_counts))
    _check_counts(spec, report, strict)
    broken = _undecodable([path for paths in files.values() for path in paths])
    if broken:
        listing = "; ".join(f"{path} ({problem})" for path, problem in broken[:10])
        raise DatasetIntegrityError(
            f"{spec.name}: {len(broken)} file(s) cannot be read as images: {listing}"
            + (" ..." if len(broken) > 10 else "")
            + ". Replace them from the original archive, or delete the folder and fetch again."
        )
    if use_manifest and spec.file_manifest is not None:
        _compare_with_manifest(spec, spec.file_manifest, report, files)
    return report


def _check_counts(spec: DatasetSpec, report: DatasetReport, strict: bool) -> None:
    """An error for an empty class (or, when ``strict``, any count off the catalog's); a
    warning for a class with more images than catalogued."""
    root, counts = report.root, report.counts
    empty = [class_dir for class_dir, count in counts.items() if count == 0]
    if empty:
        raise DatasetIntegrityError(
            f"{spec.name}: no images in {', '.join(str(root / c) for c in empty)}. "
            f"The folder {root} does not have the layout of {spec.archive}; "
            "delete it and fetch again, or point TL_MIRROR at a complete copy."
        )
    if strict and not report.complete:
        wrong = [
            f"{c}: {counts[c]} (expected {spec.expected_counts[c]})"
            for c in counts
            if counts[c] != spec.expected_counts[c]
        ]
        raise DatasetIntegrityError(
            f"{spec.name}: {root} does not hold the expected images: {'; '.join(wrong)}. "
            f"The download is incomplete or not the catalogued archive ({spec.url}); delete it and fetch again."
        )
    for class_dir, count in counts.items():
        if count > spec.expected_counts[class_dir]:
            warnings.warn(
                f"{spec.name}: {root / class_dir} has {count} images, more than the {spec.expected_counts[class_dir]} catalogued",
                CourseWarning,
                stacklevel=3,
            )


def _compare_with_manifest(
    spec: DatasetSpec, manifest: Path, report: DatasetReport, files: dict[str, list[Path]]
) -> None:
    """Warn about the files whose bytes differ from the per-file checksum list ``manifest``
    (they still decode, so they are used), or that the list is missing."""
    if not manifest.exists():
        warnings.warn(
            f"{spec.name}: the checksum list {manifest} is missing; file contents were not compared",
            CourseWarning,
            stacklevel=3,
        )
        return
    report.manifest_mismatches = _manifest_mismatches(report.root, files, read_manifest(manifest))
    if report.manifest_mismatches:
        shown = ", ".join(report.manifest_mismatches[:10])
        warnings.warn(
            f"{spec.name}: {len(report.manifest_mismatches)} file(s) in {report.root} differ from the course's "
            f"checksum list ({manifest.name}): {shown}"
            + (" ..." if len(report.manifest_mismatches) > 10 else "")
            + ". They decode as images and are used as they are; recopy them if results look odd.",
            CourseWarning,
            stacklevel=3,
        )


def _manifest_mismatches(
    root: Path, files: dict[str, list[Path]], manifest: dict[str, str]
) -> list[str]:
    present = {
        f"{class_dir}/{path.name}": path for class_dir, paths in files.items() for path in paths
    }
    mismatched = [
        f"{relpath} (not in the checksum list)" for relpath in present if relpath not in manifest
    ]
    for relpath, path in present.items():
        if relpath in manifest and file_digest(path) != manifest[relpath]:
            mismatched.append(f"{relpath} (content differs)")
    return sorted(mismatched)
