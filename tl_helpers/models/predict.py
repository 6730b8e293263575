"""Class probabilities from any of the course's models: the one way to ask a model for them."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tl_helpers.errors import CourseError

__all__ = ["input_size", "probabilities"]


def _class_columns(raw: np.ndarray) -> np.ndarray:
    """One sigmoid column ``p`` becomes ``[1 - p, p]``, so that binary and multi-class results
    are handled alike; several columns are already one probability per class."""
    raw = np.asarray(raw)
    return np.concatenate([1.0 - raw, raw], axis=1) if raw.shape[1] == 1 else raw


def input_size(model: keras.Model) -> tuple[int, int]:
    """The ``(height, width)`` of the images a classifier (or backbone) takes."""
    height, width = model.input_shape[1:3]
    return int(height), int(width)


def probabilities(
    model: keras.Model,
    inputs: np.ndarray | tf.data.Dataset,
    batch_size: int = 32,
    *,
    tta: bool = False,
) -> np.ndarray:
    """``(n, classes)`` probabilities, one column per class, also for a one-sigmoid model.

    ``model`` is an image classifier (``inputs``: a batch ``(n, height, width, 3)`` of 0-255
    images at its input size, or a ``tf.data`` dataset of such batches) or a head trained on
    cached features (``inputs``: ``FeatureSet.features``, ``(n, channels)``). Inputs of the wrong
    shape are refused with a message that says how to load photos at the right size.

    ``tta=True`` (test-time augmentation, image classifiers only) averages the probabilities of
    each photo and of its mirror image.
    """
    if tta and len(model.input_shape) != 4:
        raise CourseError(
            "tta=True mirrors images, but this model takes feature vectors, not images"
        )
    if isinstance(inputs, tf.data.Dataset):
        raw = model.predict(inputs, verbose=0)  # pyright: ignore[reportArgumentType]
        if tta:
            mirrored = inputs.map(tf.image.flip_left_right)
            raw = (raw + model.predict(mirrored, verbose=0)) / 2  # pyright: ignore[reportArgumentType]
        return _class_columns(raw)
    array = np.asarray(inputs, dtype=np.float32)
    expected = tuple(model.input_shape[1:])
    fits = array.ndim == len(expected) + 1 and all(
        want is None or want == got for want, got in zip(expected, array.shape[1:])
    )
    if not fits:
        if len(expected) == 3:
            hint = " (one image needs a batch axis: image[None])" if array.ndim == 3 else ""
            raise CourseError(
                f"images of shape {array.shape} do not fit this model, which takes batches of {expected} "
                f"(height, width, channels){hint}; load photos with load_image(path, {expected[:2]}), which resizes them"
            )
        raise CourseError(
            f"inputs of shape {array.shape} do not fit this model, which takes batches of {expected}"
        )
    raw = model.predict(array, batch_size=batch_size, verbose=0)  # pyright: ignore[reportArgumentType]
    if tta:
        raw = (raw + model.predict(array[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2  # pyright: ignore[reportArgumentType]
    return _class_columns(raw)
