"""Stored activations: what the frozen bottom of a base computes for a split (and its mirror
images), cached on disk (``extract_activations``); the features the top makes of them, pooled
(``pooled_features``); what the recipe's frozen pass gives the steps after it
(``RecipeActivations``); and the ``tf.data`` pipeline that serves the activations with random
mirroring and shifts while the top blocks train (``activation_dataset``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import config
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.training.cached_pass import FrozenNetwork, cache_key, cached_frozen_pass, compact
from tl_helpers.training.cutting import BackboneParts
from tl_helpers.training.features import FeatureSet

__all__ = [
    "ActivationSet",
    "RecipeActivations",
    "activation_dataset",
    "extract_activations",
    "pooled_features",
]


@dataclass
class ActivationSet:
    """What the frozen bottom of the base computes for one split (and its mirror images)."""

    activations: np.ndarray  # (n, h, w, channels), float16 when that is exact enough, else float32
    flipped: np.ndarray | None  # the same for the left-right mirrored images, or None
    labels: np.ndarray  # (n,) int32
    files: tuple[Path, ...]
    cut: str  # name of the first layer above the cut
    from_cache: bool = False
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class RecipeActivations:
    """What the recipe's frozen pass gives (``recipe_activations``): the base cut below its top
    blocks, the cached activations of the training photos (with their mirror images) and of the
    validation photos, and their pooled features, on which the head trains."""

    parts: BackboneParts
    train: ActivationSet
    validation: ActivationSet
    train_features: FeatureSet  # with the mirror images' rows too when the recipe mirrors
    validation_features: FeatureSet
    image_size: int
    strategy: tf.distribute.Strategy | None = None


def extract_activations(
    parts: BackboneParts,
    split: Split,
    *,
    flips: bool = True,
    batch_size: int = 32,
    use_cache: bool = True,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    runtime: str = "auto",
) -> ActivationSet:
    """Run the frozen bottom of ``parts`` (``split_backbone``) over a split once, at the
    bottom's input size (and over the mirror images when ``flips``).

    Cached on disk like pooled features, keyed additionally by where the base was cut. With a
    ``strategy``, the pass is split across its devices and workers, and ``runtime`` chooses
    what runs it, as in ``extract_features``.
    """
    size = parts.image_size
    names = ("activations", "flipped") if flips else ("activations",)

    def entries(runtime_name: str) -> list[Path]:
        if not use_cache:
            return []
        digest = cache_key(parts.spec.name, "imagenet", size, split, runtime_name)[:40]
        name = f"{digest}-{parts.cache_name}-{'flips' if flips else 'plain'}.npz"
        return [config.cache_dir() / "activations" / name]

    def compute(frozen: FrozenNetwork, part: Split) -> dict[str, np.ndarray]:
        images = make_dataset(part, image_size=size, batch_size=batch_size, cache=False)
        return _bottom_outputs(frozen, images.map(lambda x, _y: x), len(part), flips, verbose)

    passed = cached_frozen_pass(
        lambda: parts.bottom, split, names=names, entries=entries, compute=compute,
        runtime=runtime, strategy=strategy,
    )  # fmt: skip
    return ActivationSet(
        passed.arrays["activations"],
        passed.arrays.get("flipped"),
        np.asarray(split.labels, dtype=np.int32),
        split.files,
        parts.cut,
        from_cache=passed.from_cache,
        seconds=passed.seconds,
    )


def _bottom_outputs(
    frozen: FrozenNetwork, images: tf.data.Dataset, count: int, flips: bool, verbose: bool
) -> dict[str, np.ndarray]:
    """The bottom's activations for ``images`` (and for their mirror images with ``flips``),
    each batch decoded once for both."""
    if frozen.replicated:  # several devices: predict splits each batch and joins in order
        computed = {"activations": compact(frozen.run_over(images, verbose))}
        if flips:
            computed["flipped"] = compact(
                frozen.run_over(images.map(tf.image.flip_left_right), verbose)
            )
        return computed
    plain, mirrored = [], []
    progress = keras.utils.Progbar(count, unit_name="image") if verbose else None
    for batch in images:
        pixels = batch.numpy()
        plain.append(compact(frozen.runner.run(pixels)))
        if flips:  # the mirror image: width is axis 2 of a (batch, height, width, 3) array
            mirrored.append(compact(frozen.runner.run(np.ascontiguousarray(pixels[:, :, ::-1]))))
        if progress is not None:
            progress.add(int(batch.shape[0]))
    computed = {"activations": np.concatenate(plain)}
    if flips:
        computed["flipped"] = np.concatenate(mirrored)
    return computed


def pooled_features(
    top: keras.Model, activations: ActivationSet, *, mirrored: bool = False, batch_size: int = 128
) -> FeatureSet:
    """Finish the forward pass over stored activations and pool: the same features
    ``extract_features`` gives, without running the bottom again. With ``mirrored``, the features
    of the mirror images are appended (twice the rows): free augmentation for a head."""
    if mirrored and activations.flipped is None:
        raise CourseError("these activations were extracted without mirror images (flips=False)")
    pooled = keras.Sequential([top, keras.layers.GlobalAveragePooling2D()])
    parts = [activations.activations]
    if mirrored and activations.flipped is not None:
        parts.append(activations.flipped)
    features = np.concatenate(
        [
            pooled.predict(part.astype(np.float32), batch_size=batch_size, verbose=0)
            for part in parts
        ]
    )
    copies = len(parts)
    return FeatureSet(
        features.astype(np.float32),
        np.tile(activations.labels, copies),
        activations.files * copies,
        from_cache=activations.from_cache,
    )


def _targets(labels: tf.Tensor, num_classes: int, binary: bool) -> tf.Tensor:
    return (
        tf.expand_dims(tf.cast(labels, tf.float32), -1)
        if binary
        else tf.one_hot(labels, num_classes)
    )


def _as_bits(values: np.ndarray) -> np.ndarray:
    """float16 arrays travel through tf.data as their raw 16 bits (``_from_bits`` undoes it).

    Why: slicing a float16 tensor in a tf.data graph makes TensorFlow's oneDNN layer log an
    error-level notice ("oneDNN supports DT_HALF only on platforms with AVX-512") on most CPUs,
    which learners read as a failure; uint16 slices do not, and the round trip is exact."""
    return values.view(np.uint16) if values.dtype == np.float16 else values


def _from_bits(values: tf.Tensor) -> tf.Tensor:
    """float32 activations from what ``_as_bits`` stored."""
    if values.dtype == tf.uint16:
        values = tf.bitcast(values, tf.float16)
    return tf.cast(values, tf.float32)


def activation_dataset(
    activations: ActivationSet,
    num_classes: int,
    *,
    binary: bool,
    batch_size: int = 32,
    augment: bool = False,
    crop: int = 0,
    seed: int = DEFAULT_SEED,
) -> tf.data.Dataset:
    """Batches of ``(activations, targets)``; with ``augment``, shuffled and randomly mirrored
    (and cropped by ``crop`` cells), freshly drawn every epoch."""
    acts = activations.activations
    flipped = activations.flipped if activations.flipped is not None else acts
    dataset = tf.data.Dataset.from_tensor_slices(
        (_as_bits(acts), _as_bits(flipped), activations.labels)
    )
    if not augment:
        return (
            dataset.map(lambda a, _f, y: (_from_bits(a), _targets(y, num_classes, binary)))
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
    height, width, channels = acts.shape[1:]
    if crop and not 0 < crop < min(height, width):
        raise CourseError(
            f"crop must be smaller than the activation map ({height}x{width}), got {crop}"
        )

    def draw(randomness: tf.Tensor, example: tuple) -> tuple[tf.Tensor, tf.Tensor]:
        plain, mirrored, label = example
        # Stateless draws seeded per element and per epoch: different every epoch, same every run.
        seed_pair = tf.stack([randomness, tf.constant(seed, tf.int64)])
        use_mirror = tf.random.stateless_uniform([], seed=seed_pair) < 0.5
        chosen = tf.where(use_mirror, _from_bits(mirrored), _from_bits(plain))
        if crop:
            chosen = tf.image.stateless_random_crop(
                chosen, [height - crop, width - crop, channels], seed=seed_pair + 1
            )
        return chosen, _targets(label, num_classes, binary)

    dataset = dataset.shuffle(len(activations), seed=seed, reshuffle_each_iteration=True)
    randomness = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return (
        tf.data.Dataset.zip(randomness, dataset)
        .map(draw)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
