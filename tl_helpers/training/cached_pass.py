"""The one cached frozen pass behind ``extract_features`` and ``extract_activations``: its key,
then the entry found by that key, else the frozen network run over the split, the arrays stored,
and how long it took.

The key is the content, everything that changes the numbers and nothing else (``cache_key``): the
bytes of every photo (with its label, in the split's order), the backbone and the bytes of its
weights, the image size, the source code of every module that decodes, resizes, builds, cuts or
runs the network (``FEATURE_CODE``), the versions of the libraries that compute
(``FEATURE_LIBRARIES``), and the runtime that runs it. Paths and modification times are not part
of it, so the same photos give the same entry wherever they lie (a copied folder, another clone,
another worker), while one changed pixel, one edited line of that code or one upgraded library
gives a new one. A stale entry cannot be picked up.

The runtime (``frozen_runtime``) is chosen before anything is built, so a warm cache costs no
network at all; when ONNX Runtime turns out not to match Keras, the pass runs on Keras and
Keras's own entry is looked up first.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import fingerprints
from tl_helpers.backbones import weights_identity
from tl_helpers.data.decode import PIPELINE_VERSION
from tl_helpers.data.splits import Split
from tl_helpers.fingerprints import file_digest
from tl_helpers.storage import read_arrays, rows_match
from tl_helpers.training.frozen_runtime import FrozenRunner, chosen_runtime, frozen_runner
from tl_helpers.training.sharding import frozen_copy, frozen_pass

__all__ = [
    "FEATURE_CODE",
    "FEATURE_LIBRARIES",
    "CachedArrays",
    "FrozenNetwork",
    "cache_key",
    "cached_frozen_pass",
    "code_fingerprint",
    "compact",
]

# The modules whose code decides the numbers a frozen pass gives: decoding and resizing, the
# backbones and the conversion of their weights, cutting a base, and the passes themselves.
FEATURE_CODE = (
    "tl_helpers.data.decode",
    "tl_helpers.data.pipelines",
    "tl_helpers.backbones.efficientnet_lite",
    "tl_helpers.backbones.preprocessing",
    "tl_helpers.backbones.registry",
    "tl_helpers.backbones.torch_pickle",
    "tl_helpers.training.activations",
    "tl_helpers.training.cached_pass",
    "tl_helpers.training.cutting",
    "tl_helpers.training.features",
    "tl_helpers.training.frozen_runtime",
)
# The libraries that compute them (distribution names, as pip shows them).
FEATURE_LIBRARIES = ("tensorflow", "keras", "numpy", "pillow")


def code_fingerprint(
    modules: tuple[str, ...] | None = None, libraries: tuple[str, ...] | None = None
) -> str:
    """``fingerprints.code_fingerprint`` of ``modules`` and ``libraries``, by default those that
    decide the features (``FEATURE_CODE`` and ``FEATURE_LIBRARIES``, read at each call)."""
    return fingerprints.code_fingerprint(
        FEATURE_CODE if modules is None else modules,
        FEATURE_LIBRARIES if libraries is None else libraries,
    )


def cache_key(
    backbone: str,
    weights: str | None,
    image_size: tuple[int, int],
    split: Split,
    runtime: str = "keras",
) -> str:
    """sha256 over what decides a frozen pass's numbers and nothing else (see the module
    docstring): the backbone and its weights, the image size, the code and libraries
    (``code_fingerprint``), the ``runtime`` that runs the network, and every photo's bytes and
    label in order."""
    digest = hashlib.sha256()
    header = {
        "backbone": backbone,
        "weights": weights_identity(backbone, weights),
        "image_size": list(image_size),
        "pipeline": PIPELINE_VERSION,
        "code": code_fingerprint(),
        "runtime": runtime,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for path, label in zip(split.files, split.labels):
        digest.update(f"{file_digest(path)}\0{label}\n".encode())
    return digest.hexdigest()


def compact(values: np.ndarray) -> np.ndarray:
    """float16 halves memory and disk; keep float32 where values would overflow it."""
    half = values.astype(np.float16)
    return half if np.isfinite(half).all() else values.astype(np.float32)


@dataclass
class FrozenNetwork:
    """The network a pass runs: ``model`` (under a strategy with several devices here, a copy
    on every device) and ``runner``, what runs it one batch at a time on the chosen runtime."""

    model: keras.Model
    runner: FrozenRunner
    replicated: bool

    def run_over(self, images: tf.data.Dataset, verbose: bool) -> np.ndarray:
        """The network's outputs for every batch of ``images``, in order: Keras's ``predict``
        (which splits each batch across the devices of a copy), or the runner batch by batch."""
        if self.replicated or self.runner.runtime == "keras":
            return self.model.predict(images, verbose=1 if verbose else 0)
        progress = keras.utils.Progbar(None, unit_name="batch") if verbose else None
        outputs = []
        for batch in images:
            outputs.append(self.runner.run(batch.numpy()))
            if progress is not None:
                progress.add(1)
        return np.concatenate(outputs)


@dataclass
class CachedArrays:
    """What a cached pass gives: the arrays, whether they were read from the cache, and the
    seconds spent computing them (0 when read)."""

    arrays: dict[str, np.ndarray]
    from_cache: bool
    seconds: float = 0.0


def cached_frozen_pass(
    build: Callable[[], keras.Model],
    split: Split,
    *,
    names: tuple[str, ...],
    entries: Callable[[str], list[Path]],
    compute: Callable[[FrozenNetwork, Split], dict[str, np.ndarray]],
    runtime: str = "auto",
    strategy: tf.distribute.Strategy | None = None,
) -> CachedArrays:
    """``compute`` over ``split`` with the network ``build()`` returns, frozen, through the cache
    (a warm entry builds no network).

    ``entries(runtime)`` lists the cache files that hold this pass when run on ``runtime`` (empty:
    no cache), the one to write first; any of them holding ``names`` with a row per photo serves.
    With a ``strategy``, the pass is shared across its workers (``sharding.frozen_pass``)."""
    planned = chosen_runtime(runtime, len(split), several_devices=strategy is not None)
    rows = rows_match(len(split))
    listed: dict[str, list[Path]] = {}  # each runtime's key is computed once: it reads every photo

    def paths(runtime_name: str) -> list[Path]:
        if runtime_name not in listed:
            listed[runtime_name] = entries(runtime_name)
        return listed[runtime_name]

    def stored(runtime_name: str) -> dict[str, np.ndarray] | None:
        for path in paths(runtime_name):
            arrays = read_arrays(path, names, rows)
            if arrays is not None:
                return arrays
        return None

    if (found := stored(planned)) is not None:
        return CachedArrays(found, from_cache=True)
    network = build()
    model = frozen_copy(network, strategy)
    frozen = FrozenNetwork(model, frozen_runner(model, planned), model is not network)
    ran_on = frozen.runner.runtime
    if ran_on != planned and (found := stored(ran_on)) is not None:
        return CachedArrays(found, from_cache=True)
    start = time.perf_counter()
    target = next(iter(paths(ran_on)), None)
    arrays = frozen_pass(split, target, strategy, lambda part: compute(frozen, part), names)
    return CachedArrays(arrays, from_cache=False, seconds=time.perf_counter() - start)
