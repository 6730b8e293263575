"""``tf.data`` pipelines from file lists: decode, resize, cache, shuffle, batch, prefetch.

This does what ``keras.utils.image_dataset_from_directory`` does (and what the older
``ImageDataGenerator.flow_from_directory`` did), but over an explicit list of files, so the
course's deterministic splits decide exactly which image goes where. Images come out as
float32 in 0-255, the range every backbone in the course expects; scaling happens inside the
model, so a saved model takes raw images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import tensorflow as tf

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.fetching import fetch
from tl_helpers.data.images import exif_orientation
from tl_helpers.data.splits import DatasetSplits, Split, dataset_splits

__all__ = [
    "AUTOTUNE",
    "RESIZE_ANTIALIAS",
    "DatasetPipelines",
    "apply_orientation",
    "decode_and_resize",
    "decode_upright",
    "load_dataset",
    "make_dataset",
]

AUTOTUNE = tf.data.AUTOTUNE


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turn a decoded image upright according to its EXIF orientation (1-8), as
    ``PIL.ImageOps.exif_transpose`` does: phones store portrait photos sideways with that tag."""

    def transpose(x: tf.Tensor) -> tf.Tensor:
        return tf.transpose(x, [1, 0, 2])

    branches = [
        lambda: image,  # 0: not a valid tag, leave as stored
        lambda: image,  # 1: upright
        lambda: tf.image.flip_left_right(image),  # 2: mirrored
        lambda: tf.image.rot90(image, 2),  # 3: upside down
        lambda: tf.image.flip_up_down(image),  # 4: mirrored upside down
        lambda: transpose(image),  # 5: mirrored along the diagonal
        lambda: tf.image.rot90(image, 3),  # 6: stored rotated 90 degrees anticlockwise
        lambda: tf.image.rot90(transpose(image), 2),  # 7: mirrored along the other diagonal
        lambda: tf.image.rot90(image, 1),  # 8: stored rotated 90 degrees clockwise
    ]
    return tf.switch_case(tf.clip_by_value(tf.cast(orientation, tf.int32), 0, 8), branches)


# Resize without antialiasing, like ``image_dataset_from_directory`` and the course's ImageNet
# weights' own preprocessing. Measured on the validation splits (benchmarks/resize_antialias.py,
# results in the README): switching antialiasing on did not raise validation accuracy, so the
# cheaper, standard resize stays. Changing this changes every pixel; the feature cache notices
# by itself (its key includes this module's source: training.features.FEATURE_CODE).
RESIZE_ANTIALIAS = False


def decode_upright(path: tf.Tensor | str, orientation: tf.Tensor | int = 1) -> tf.Tensor:
    """Read one image file into a float32 tensor of 0-255 values with 3 channels, turned upright.

    Grayscale images are expanded to RGB and an alpha channel is dropped (``channels=3``);
    16-bit PNGs keep their high byte; animated GIFs contribute their first frame;
    ``orientation`` (the file's EXIF tag, see ``exif_orientation``) turns the image upright.
    """
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    # Turned as float32, which is exact for 0-255: in a tf.data graph, TensorFlow's oneDNN rewrite
    # logs an error-level notice for every uint8 transpose on CPUs without AVX-512.
    return apply_orientation(tf.cast(image, tf.float32), tf.convert_to_tensor(orientation))


def decode_and_resize(
    path: tf.Tensor | str,
    image_size: tuple[int, int],
    orientation: tf.Tensor | int = 1,
    antialias: bool = RESIZE_ANTIALIAS,
) -> tf.Tensor:
    """The course's one image path: decode, turn upright, resize bilinearly to ``image_size``
    (height, width) and round to ``uint8``.

    Training, evaluation, prediction (``load_image``), the widgets and the plots all call it, so
    a photo gives the same pixels, and the same probabilities, whichever way it reaches a model.
    """
    image = tf.image.resize(decode_upright(path, orientation), image_size, antialias=antialias)
    return tf.saturate_cast(tf.round(image), tf.uint8)  # uint8 keeps the in-memory cache 4x smaller


def make_dataset(
    split: Split,
    *,
    image_size: tuple[int, int] = (224, 224),
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = DEFAULT_SEED,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(images float32 0-255, labels int32)`` for one split.

    Decoded images are cached in memory after the first epoch (``cache=False`` for folders too
    big for memory). Shuffling happens *after* the cache, so each epoch sees a new order; the
    split's membership never changes because it was fixed by file name beforehand.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    paths = tf.constant([os.fspath(p) for p in split.files], dtype=tf.string)
    labels = tf.constant(split.labels, dtype=tf.int32)
    orientations = tf.constant([exif_orientation(p) for p in split.files], dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels, orientations))
    dataset = dataset.map(
        lambda p, y, o: (decode_and_resize(p, image_size, o), y),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


@dataclass
class DatasetPipelines:
    """The three pipelines of a dataset, with its class names and the splits behind them."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    class_names: tuple[str, ...]
    splits: DatasetSplits


def load_dataset(
    name: str,
    *,
    image_size: tuple[int, int] = (224, 224),
    batch_size: int = 32,
    seed: int = DEFAULT_SEED,
    mirror: str | None = None,
    verbose: bool = False,
) -> DatasetPipelines:
    """Fetch catalogued dataset ``name`` if needed and return train/validation/test pipelines.

    Only the training pipeline is shuffled; validation and test keep a fixed order so that
    predictions line up with ``splits.<split>.files``.
    """
    root = fetch(name, mirror=mirror, verbose=verbose)
    splits = dataset_splits(name, root)
    common = {"image_size": tuple(image_size), "batch_size": batch_size, "seed": seed}
    return DatasetPipelines(
        train=make_dataset(splits.train, shuffle=True, **common),
        validation=make_dataset(splits.validation, **common),
        test=make_dataset(splits.test, **common),
        class_names=splits.class_names,
        splits=splits,
    )
