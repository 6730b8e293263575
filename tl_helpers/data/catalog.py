"""The dataset catalog: what each course dataset is, where it comes from and what it must contain.

The catalog itself is data (``tl_helpers/data/resources/catalog.json``, with the per-file
checksum lists beside it in ``manifests/``) so that a teacher can read it without reading
Python; this module turns it into typed records. It ships inside the package
(``importlib.resources``), so an installed copy of ``tl_helpers`` finds it without the project
folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tl_helpers.errors import UnknownNameError

__all__ = ["CATALOG_PATH", "DatasetSpec", "dataset_names", "get_spec", "load_catalog"]

# The package's own folder on disk (pip installs packages as plain folders, never zipped).
CATALOG_PATH = Path(str(resources.files("tl_helpers.data").joinpath("resources", "catalog.json")))


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of the catalog."""

    name: str
    title: str
    url: str
    archive: str  # file name of the downloaded archive
    archive_bytes: int | None  # published size, when known
    archive_sha256: str | None  # published checksum, when known
    folder: str  # top-level folder inside the archive (and inside a mirror)
    class_names: tuple[str, ...]
    expected_counts: dict[str, int]  # class folder (relative to ``folder``) -> number of images
    file_manifest: Path | None  # per-file sha256 list, for checking mirror copies
    split: dict[str, Any]
    license: str

    @property
    def expected_total(self) -> int:
        return sum(self.expected_counts.values())


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, DatasetSpec]:
    """Read the catalog file into ``{name: DatasetSpec}``."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    specs = {}
    for name, entry in raw.items():
        manifest = entry.get("file_manifest")
        specs[name] = DatasetSpec(
            name=name,
            title=entry["title"],
            url=entry["url"],
            archive=entry["archive"],
            archive_bytes=entry.get("archive_bytes"),
            archive_sha256=entry.get("archive_sha256"),
            folder=entry["folder"],
            class_names=tuple(entry["class_names"]),
            expected_counts=dict(entry["expected_counts"]),
            file_manifest=(Path(path).parent / manifest) if manifest else None,
            split=dict(entry["split"]),
            license=entry["license"],
        )
    return specs


def dataset_names() -> list[str]:
    """Names of the datasets in the catalog."""
    return sorted(load_catalog())


def get_spec(name: str) -> DatasetSpec:
    """The catalog entry for ``name``; an error listing the valid names if there is none."""
    catalog = load_catalog()
    if name not in catalog:
        raise UnknownNameError("dataset", name, catalog)
    return catalog[name]
