"""Fast feature extraction: run the frozen base once, keep the pooled features on disk.

With a frozen base, every epoch of ordinary training pushes the same images through the same
fixed network and gets the same features out. Computing them once and training the head on the
stored vectors gives the same model in a fraction of the time. (Without augmentation: random
flips change the images, so that recipe has to run the base each epoch.)

The cache is keyed by content, by everything that changes the numbers and nothing else: the
bytes of every photo (with its label, in the split's order), the backbone and the bytes of its
weights, the image size, the source code of every module that decodes, resizes, builds, cuts or
runs the network (``FEATURE_CODE``), and the versions of the libraries that compute
(``FEATURE_LIBRARIES``). Paths and modification times are not part of it, so the same photos give
the same entry wherever they lie (a copied folder, another clone, another worker), while one
changed pixel, one edited line of that code or one upgraded library gives a new one. A stale
entry cannot be picked up.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import config, fingerprints
from tl_helpers.backbones import (
    backbone_size,
    build_backbone,
    efficientnet_lite,
    get_backbone_spec,
)
from tl_helpers.data.decode import PIPELINE_VERSION
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.fingerprints import file_digest
from tl_helpers.training.cached_pass import FrozenNetwork, cached_frozen_pass

__all__ = [
    "FEATURE_CODE",
    "FEATURE_LIBRARIES",
    "FeatureSet",
    "cache_key",
    "code_fingerprint",
    "compact",
    "extract_features",
    "pooled_backbone",
    "weights_identity",
]


@dataclass
class FeatureSet:
    """Pooled features of one split, aligned with its files and labels."""

    features: np.ndarray  # (n, channels) float32
    labels: np.ndarray  # (n,) int32
    files: tuple[Path, ...]
    from_cache: bool = False
    seconds: float = 0.0  # time spent computing (0 when read from the cache)
    maps: np.ndarray | None = None  # (n, h, w, channels): what was pooled, with maps=True

    def __len__(self) -> int:
        return len(self.labels)


def weights_identity(backbone: str, weights: str | None) -> str:
    """A string that changes whenever the backbone's weights would."""
    if weights is None:
        raise ValueError(
            "features of a randomly initialised base are not worth caching; use weights='imagenet'"
        )
    if get_backbone_spec(backbone).offline_weights:
        source = efficientnet_lite.weights_source(backbone)
        digest = file_digest(source)[:16]
        return (
            f"{backbone}:pytorch-sha256-{digest}:converter-v{efficientnet_lite.CONVERTER_VERSION}"
        )
    return f"{backbone}:keras-applications-{weights}:keras-{keras.__version__}"


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
    """sha256 over what decides the features and nothing else (see the module docstring): the
    backbone and its weights, the image size, the code and libraries (``code_fingerprint``),
    the ``runtime`` that runs the network, and every photo's bytes and label in order."""
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


@functools.lru_cache(maxsize=4)
def pooled_backbone(
    backbone: str, image_size: tuple[int, int], weights: str | None = "imagenet"
) -> keras.Model:
    """The backbone followed by global average pooling: images in, one vector per image out."""
    base = build_backbone(backbone, image_size, weights)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    return keras.Model(base.input, pooled, name=f"{backbone}_pooled")


def compact(values: np.ndarray) -> np.ndarray:
    """float16 halves memory and disk; keep float32 where values would overflow it."""
    half = values.astype(np.float16)
    return half if np.isfinite(half).all() else values.astype(np.float32)


def _nowhere(_runtime: str) -> list[Path]:
    return []


def _feature_entries(
    backbone: str, weights: str, size: tuple[int, int], split: Split, maps: bool
) -> Callable[[str], list[Path]]:
    """The cache files that hold these features when run on a runtime: an entry with maps
    serves a call without them too."""

    def entries(runtime: str) -> list[Path]:
        stem = config.cache_dir() / "features" / cache_key(backbone, weights, size, split, runtime)
        with_maps = Path(f"{stem}-maps.npz")
        return [with_maps] if maps else [Path(f"{stem}.npz"), with_maps]

    return entries


def extract_features(
    backbone: str,
    split: Split,
    *,
    image_size: int | tuple[int, int] | None = None,
    batch_size: int = 32,
    weights: str = "imagenet",
    maps: bool = False,
    use_cache: bool = True,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    runtime: str = "auto",
) -> FeatureSet:
    """Pooled features of every image in ``split``, from the cache when possible, at
    ``image_size`` (default: the backbone's own).

    With ``maps``, the same pass also keeps the feature maps before pooling (float16 where that
    is exact enough), so a head that needs them costs no second pass; their entry serves later
    calls without ``maps`` too. With a ``strategy`` (``distribution_strategy``), the frozen pass
    is split across its devices and workers (``training.sharding``); the result is the same
    array, in the same order. ``runtime``: what runs the frozen pass (``frozen_runtime``:
    ``"auto"`` is ONNX Runtime on a CPU-only machine for large splits, where it matches Keras)."""
    size = backbone_size(backbone, image_size)
    names = ("features", "maps") if maps else ("features",)

    def build() -> keras.Model:
        network = pooled_backbone(backbone, size, weights)
        if maps:  # stop before the pooling layer; pool here, in float32
            return keras.Model(network.input, network.get_layer("pool").input)
        return network

    entries = _feature_entries(backbone, weights, size, split, maps) if use_cache else _nowhere

    def compute(frozen: FrozenNetwork, part: Split) -> dict[str, np.ndarray]:
        images = make_dataset(part, image_size=size, batch_size=batch_size, cache=False)
        values = frozen.run_over(images.map(lambda x, _y: x), verbose).astype(np.float32)
        if not maps:
            return {"features": values}
        return {"features": values.mean(axis=(1, 2)), "maps": compact(values)}

    passed = cached_frozen_pass(
        build, split, names=names, entries=entries, compute=compute, runtime=runtime,
        strategy=strategy,
    )  # fmt: skip
    arrays = passed.arrays
    return FeatureSet(
        arrays["features"],
        np.asarray(split.labels, dtype=np.int32),
        split.files,
        passed.from_cache,
        passed.seconds,
        arrays.get("maps"),
    )
