"""Fingerprints by content: of a file's bytes, of source code and library versions, of a model's
architecture and weights. The caches key their entries with these (features, activations, the
ONNX conversions, exports), so an entry can only be found again by what made it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

__all__ = ["code_fingerprint", "file_digest", "update_with_model"]


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in chunks (an archive never fills memory)."""
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def code_fingerprint(modules: tuple[str, ...], libraries: tuple[str, ...]) -> str:
    """sha256 over the source files of ``modules`` and the installed versions of ``libraries``
    (distribution names, as pip shows them): it changes when one line of that code, or one of
    those versions, does. Read afresh at every call: nothing is remembered."""
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"cannot fingerprint {name}: no source file found")
        digest.update(f"{name}\0".encode() + Path(spec.origin).read_bytes() + b"\0")
    for library in libraries:
        digest.update(f"{library}=={importlib.metadata.version(library)}\n".encode())
    return digest.hexdigest()


def update_with_model(digest: Any, model: keras.Model) -> None:
    """Feed ``digest`` (a ``hashlib`` object) the model's architecture (``to_json``, layer names
    included) and every weight's path, type, shape and bytes."""
    import keras

    digest.update(model.to_json().encode())
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight.value)
        digest.update(f"{weight.path}\0{value.dtype}\0{value.shape}\0".encode())
        digest.update(value.tobytes())
