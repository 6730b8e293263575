"""Fast feature extraction: run the frozen base once, keep the pooled features on disk.

With a frozen base, every epoch of ordinary training pushes the same images through the same
fixed network and gets the same features out. Computing them once and training the head on the
stored vectors gives the same model in a fraction of the time. (Without augmentation: random
flips change the images, so that recipe has to run the base each epoch.)

The cache is keyed by everything that changes the numbers: the backbone and the identity of its
weights, the image size, the decoding/resizing pipeline and the exact list of files with their
sizes and modification times. A stale cache cannot be picked up.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import tl_helpers
from tl_helpers import config
from tl_helpers.backbones import build_backbone, efficientnet_lite, get_backbone_spec
from tl_helpers.data.images import size_pair
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.storage import read_arrays, rows_match
from tl_helpers.training.sharding import frozen_copy, frozen_pass

__all__ = [
    "PIPELINE_VERSION",
    "FeatureSet",
    "cache_key",
    "extract_features",
    "pooled_backbone",
    "weights_identity",
]

PIPELINE_VERSION = (
    "decode_image-exif-bilinear-noantialias-round-uint8-v3"  # bump if data.pipelines changes pixels
)


@dataclass
class FeatureSet:
    """Pooled features of one split, aligned with its files and labels."""

    features: np.ndarray  # (n, channels) float32
    labels: np.ndarray  # (n,) int32
    files: tuple[Path, ...]
    from_cache: bool = False
    seconds: float = 0.0  # time spent computing (0 when read from the cache)

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
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        return (
            f"{backbone}:pytorch-sha256-{digest}:converter-v{efficientnet_lite.CONVERTER_VERSION}"
        )
    return f"{backbone}:keras-applications-{weights}:keras-{keras.__version__}"


def cache_key(backbone: str, weights: str | None, image_size: tuple[int, int], split: Split) -> str:
    """sha256 over the backbone, weights, image size, pipeline and each file's path, size and mtime."""
    digest = hashlib.sha256()
    header = {
        "backbone": backbone,
        "weights": weights_identity(backbone, weights),
        "image_size": list(image_size),
        "pipeline": PIPELINE_VERSION,
        "package": tl_helpers.__version__,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for path, label in zip(split.files, split.labels):
        info = os.stat(path)
        digest.update(
            f"{os.path.abspath(path)}\0{info.st_size}\0{info.st_mtime_ns}\0{label}\n".encode()
        )
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def pooled_backbone(
    backbone: str, image_size: tuple[int, int], weights: str | None = "imagenet"
) -> keras.Model:
    """The backbone followed by global average pooling: images in, one vector per image out."""
    base = build_backbone(backbone, image_size, weights)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    return keras.Model(base.input, pooled, name=f"{backbone}_pooled")


def extract_features(
    backbone: str,
    split: Split,
    *,
    image_size: int | tuple[int, int] = 224,
    batch_size: int = 32,
    weights: str = "imagenet",
    use_cache: bool = True,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
) -> FeatureSet:
    """Pooled features of every image in ``split``, from the cache when possible.

    With a ``strategy`` (``distribution_strategy``), the frozen pass is split across its devices
    and workers (``training.sharding``); the result is the same array, in the same order."""
    size = size_pair(image_size)
    labels = np.asarray(split.labels, dtype=np.int32)
    path = (
        config.cache_dir() / "features" / f"{cache_key(backbone, weights, size, split)}.npz"
        if use_cache
        else None
    )
    stored = read_arrays(path, ("features",), rows_match(len(labels))) if path else None
    if stored is not None:
        return FeatureSet(stored["features"], labels, split.files, from_cache=True)

    def compute(part: Split) -> dict[str, np.ndarray]:
        model = frozen_copy(pooled_backbone(backbone, size, weights), strategy)
        images = make_dataset(part, image_size=size, batch_size=batch_size, cache=False).map(
            lambda x, _y: x
        )
        return {"features": model.predict(images, verbose=1 if verbose else 0).astype(np.float32)}

    start = time.perf_counter()
    features = frozen_pass(split, path, strategy, compute, ("features",))["features"]
    seconds = time.perf_counter() - start
    return FeatureSet(features, labels, split.files, from_cache=False, seconds=seconds)
