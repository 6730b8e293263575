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
import importlib.metadata
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import config
from tl_helpers.backbones import build_backbone, efficientnet_lite, get_backbone_spec
from tl_helpers.data.decode import PIPELINE_VERSION
from tl_helpers.data.images import size_pair
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.storage import read_arrays, rows_match
from tl_helpers.training.frozen_runtime import FrozenRunner, chosen_runtime, frozen_runner
from tl_helpers.training.sharding import frozen_copy, frozen_pass

__all__ = [
    "FEATURE_CODE",
    "FEATURE_LIBRARIES",
    "FeatureSet",
    "cache_key",
    "code_fingerprint",
    "compact",
    "file_digest",
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
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
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
    "tl_helpers.training.cutting",
    "tl_helpers.training.features",
    "tl_helpers.training.frozen_runtime",
)
# The libraries that compute them (distribution names, as pip shows them).
FEATURE_LIBRARIES = ("tensorflow", "keras", "numpy", "pillow")


def code_fingerprint(
    modules: tuple[str, ...] | None = None, libraries: tuple[str, ...] | None = None
) -> str:
    """sha256 over the source files of ``modules`` and the installed versions of ``libraries``
    (default ``FEATURE_CODE`` and ``FEATURE_LIBRARIES``): it changes when one line of that code,
    or one of those versions, does. Read afresh at every call: nothing is remembered."""
    digest = hashlib.sha256()
    for name in FEATURE_CODE if modules is None else modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"cannot fingerprint {name}: no source file found")
        digest.update(f"{name}\0".encode() + Path(spec.origin).read_bytes() + b"\0")
    for library in FEATURE_LIBRARIES if libraries is None else libraries:
        digest.update(f"{library}=={importlib.metadata.version(library)}\n".encode())
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


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


def _stored(
    folder: Path, key: str, maps: bool, labels: np.ndarray, split: Split
) -> FeatureSet | None:
    names = ("features", "maps") if maps else ("features",)
    for suffix in ("-maps",) if maps else ("", "-maps"):  # an entry with maps serves both
        stored = read_arrays(folder / f"{key}{suffix}.npz", names, rows_match(len(labels)))
        if stored is not None:
            return FeatureSet(
                stored["features"], labels, split.files, True, maps=stored.get("maps")
            )
    return None


def _run_over(runner: FrozenRunner, model: keras.Model, images, verbose: bool) -> np.ndarray:  # noqa: ANN001
    if runner.runtime == "keras":
        return model.predict(images, verbose=1 if verbose else 0)
    progress = keras.utils.Progbar(None, unit_name="batch") if verbose else None
    outputs = []
    for batch in images:
        outputs.append(runner.run(batch.numpy()))
        if progress is not None:
            progress.add(1)
    return np.concatenate(outputs)


def extract_features(
    backbone: str,
    split: Split,
    *,
    image_size: int | tuple[int, int] = 224,
    batch_size: int = 32,
    weights: str = "imagenet",
    maps: bool = False,
    use_cache: bool = True,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    runtime: str = "auto",
) -> FeatureSet:
    """Pooled features of every image in ``split``, from the cache when possible.

    With ``maps``, the same pass also keeps the feature maps before pooling (float16 where that
    is exact enough), so a head that needs them costs no second pass; their entry serves later
    calls without ``maps`` too. With a ``strategy`` (``distribution_strategy``), the frozen pass
    is split across its devices and workers (``training.sharding``); the result is the same
    array, in the same order. ``runtime``: what runs the frozen pass (``frozen_runtime``:
    ``"auto"`` is ONNX Runtime on a CPU-only machine for large splits, where it matches Keras)."""
    size = size_pair(image_size)
    labels = np.asarray(split.labels, dtype=np.int32)
    folder = config.cache_dir() / "features"
    planned = chosen_runtime(runtime, len(split), several_devices=strategy is not None)
    key = cache_key(backbone, weights, size, split, planned)
    if use_cache and (stored := _stored(folder, key, maps, labels, split)) is not None:
        return stored
    model = frozen_copy(pooled_backbone(backbone, size, weights), strategy)
    if maps:  # stop before the pooling layer; pool here, in float32
        model = keras.Model(model.input, model.get_layer("pool").input)
    runner = frozen_runner(model, planned)
    if runner.runtime != planned:  # ONNX Runtime did not match Keras: Keras's entry, if kept
        key = cache_key(backbone, weights, size, split, runner.runtime)
        if use_cache and (stored := _stored(folder, key, maps, labels, split)) is not None:
            return stored

    def compute(part: Split) -> dict[str, np.ndarray]:
        images = make_dataset(part, image_size=size, batch_size=batch_size, cache=False).map(
            lambda x, _y: x
        )
        values = _run_over(runner, model, images, verbose).astype(np.float32)
        if not maps:
            return {"features": values}
        return {"features": values.mean(axis=(1, 2)), "maps": compact(values)}

    start = time.perf_counter()
    path = folder / f"{key}{'-maps' if maps else ''}.npz" if use_cache else None
    names = ("features", "maps") if maps else ("features",)
    arrays = frozen_pass(split, path, strategy, compute, names)
    seconds = time.perf_counter() - start
    return FeatureSet(arrays["features"], labels, split.files, False, seconds, arrays.get("maps"))
