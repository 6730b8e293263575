"""A cache of finished exports, keyed by content, so that exporting the same model again is a copy.

Converting to LiteRT or ONNX takes from seconds to minutes (int8 calibration runs a few hundred
photos through the model), and notebook 07, the ``export`` command and the tests export the same
trained model more than once. An entry is found again only when everything that decides the
exported bytes is the same:

- the model: its architecture (``model.to_json()``, layer names included) and the bytes of every
  weight, trainable or not, in order;
- the request: format, quantization, and for int8 the bytes of every calibration photo, in order;
- the code that exports (``EXPORT_CODE``) and the versions of the libraries that convert
  (``EXPORT_LIBRARIES``).

Paths and times are not part of the key, so a retrained model that came out bit for bit the same
(fixed seeds on the same machine) finds its entry, while one changed weight, photo, line of the
export code or library version gives a new one. Entries are written whole (a folder renamed into
place) or not at all. Exports larger than ``MAX_CACHED_BYTES`` are not kept: copying them saves
little against the disk they would take.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import keras

from tl_helpers import config
from tl_helpers.fingerprints import code_fingerprint, file_digest, update_with_model
from tl_helpers.storage import atomic_path

__all__ = ["EXPORT_CODE", "EXPORT_LIBRARIES", "MAX_CACHED_BYTES", "export_key", "find", "keep"]

EXPORT_CODE = (
    "tl_helpers.deploy.cache",
    "tl_helpers.deploy.export",
    "tl_helpers.deploy.metadata",
    "tl_helpers.data.images",  # int8 calibration decodes the photos with it
)
EXPORT_LIBRARIES = ("tensorflow", "keras", "numpy", "pillow", "onnx", "tf2onnx")
MAX_CACHED_BYTES = 256 * 2**20


def export_key(
    model: keras.Model, format: str, quantize: str, calibration: list[Path], extra: str = ""
) -> str:
    """sha256 over what decides an export's bytes (see the module docstring). ``extra`` is any
    further text that changes the file (the metadata written into it)."""
    digest = hashlib.sha256()
    header = {
        "format": format,
        "quantize": quantize,
        "extra": extra,
        "code": code_fingerprint(EXPORT_CODE, EXPORT_LIBRARIES),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    update_with_model(digest, model)
    for photo in calibration:
        digest.update(f"{file_digest(photo)}\n".encode())
    return digest.hexdigest()


def _entry(key: str) -> Path:
    return config.cache_dir() / "exports" / key[:40]


def find(key: str) -> Path | None:
    """The cached export (file or SavedModel folder) for ``key``, or None."""
    entry = _entry(key)
    found = [path for path in entry.glob("model*")] if entry.is_dir() else []
    return found[0] if len(found) == 1 else None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def copy(source: Path, target: Path) -> None:
    """Copy a file or a folder (a SavedModel) to ``target``, which must not exist yet."""
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)


def keep(key: str, exported: Path) -> bool:
    """Store ``exported`` (a finished file or folder) under ``key``; False when it is too large
    to keep or already kept. Written to a temporary folder and renamed: whole or absent."""
    entry = _entry(key)
    if entry.exists() or _size(exported) > MAX_CACHED_BYTES:
        return False
    with atomic_path(entry, needed_bytes=_size(exported), keep_existing=True) as temporary:
        temporary.mkdir()
        copy(exported, temporary / f"model{exported.suffix}")  # what find looks for
    return True
