"""Fast feature extraction: run the frozen base once, keep the pooled features on disk.

With a frozen base, every epoch of ordinary training pushes the same images through the same
fixed network and gets the same features out. Computing them once and training the head on the
stored vectors gives the same model in a fraction of the time. (Without augmentation: random
flips change the images, so that recipe has to run the base each epoch.)

The cache is keyed by content (``cached_pass.cache_key``): the photos' bytes, the backbone and
its weights, the size, the code and the libraries that compute, never paths or modification
times.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import config
from tl_helpers.backbones import backbone_size, build_backbone
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.training.cached_pass import FrozenNetwork, cache_key, cached_frozen_pass, compact

__all__ = ["FeatureSet", "extract_features", "pooled_backbone"]


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


@functools.lru_cache(maxsize=4)
def pooled_backbone(
    backbone: str, image_size: tuple[int, int], weights: str | None = "imagenet"
) -> keras.Model:
    """The backbone followed by global average pooling: images in, one vector per image out."""
    base = build_backbone(backbone, image_size, weights)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    return keras.Model(base.input, pooled, name=f"{backbone}_pooled")


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
