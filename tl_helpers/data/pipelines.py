"""``tf.data`` pipelines from file lists: decode, resize, cache, shuffle, batch, prefetch.

This does what ``keras.utils.image_dataset_from_directory`` does (and what the older
``ImageDataGenerator.flow_from_directory`` did), but over an explicit list of files, so the
course's deterministic splits decide exactly which image goes where. Images come out as
float32 in 0-255, the range every backbone in the course expects; scaling happens inside the
model, so a saved model takes raw images.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.decode import decode_and_resize, exif_orientation
from tl_helpers.data.splits import Split

__all__ = ["AUTOTUNE", "make_dataset"]

AUTOTUNE = tf.data.AUTOTUNE


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
