"""Class probabilities from any of the course's models: the one way to ask a model for them."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import keras
import numpy as np
import tensorflow as tf

from tl_helpers.errors import CourseError

__all__ = ["ExportedModel", "input_size", "probabilities"]


@runtime_checkable
class ExportedModel(Protocol):
    """A classifier run outside Keras (``tl_helpers.deploy.runtimes.ExportedClassifier``): it
    takes 0-255 images at ``image_size`` and gives one probability per class."""

    @property
    def class_names(self) -> list[str]: ...

    @property
    def image_size(self) -> tuple[int, int]: ...

    def probabilities(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray: ...


def _class_columns(raw: np.ndarray) -> np.ndarray:
    """One sigmoid column ``p`` becomes ``[1 - p, p]``, so that binary and multi-class results
    are handled alike; several columns are already one probability per class."""
    raw = np.asarray(raw)
    return np.concatenate([1.0 - raw, raw], axis=1) if raw.shape[1] == 1 else raw


def input_size(model: keras.Model | ExportedModel) -> tuple[int, int]:
    """The ``(height, width)`` of the images a classifier (or backbone) takes."""
    if isinstance(model, ExportedModel):
        return model.image_size
    shape = tuple(model.input_shape)
    if len(shape) != 4 or None in shape[1:3]:
        raise CourseError(
            f"this model takes inputs of shape {shape}, not images of a fixed (height, width): "
            "it is not an image classifier or backbone the course can use"
        )
    return int(shape[1]), int(shape[2])


def _exported_probabilities(
    model: ExportedModel, inputs: np.ndarray | tf.data.Dataset, batch_size: int, tta: bool
) -> np.ndarray:
    if isinstance(inputs, tf.data.Dataset):
        batches = [np.asarray(batch) for batch in inputs.as_numpy_iterator()]
        inputs = np.concatenate(batches) if batches else np.zeros((0, *model.image_size, 3))
    raw = model.probabilities(inputs, batch_size)
    if tta:
        raw = (raw + model.probabilities(np.asarray(inputs)[:, :, ::-1], batch_size)) / 2
    return raw


def _predict_array(model: keras.Model, array: np.ndarray, batch_size: int) -> np.ndarray:
    """``model.predict(array)``'s numbers without its per-call set-up (a data adapter, callbacks,
    a progress bar): ``predict_on_batch`` runs the same compiled function on each chunk, several
    times faster for a single photo (notebook 07 measures it)."""
    chunks = [
        np.asarray(model.predict_on_batch(array[start : start + batch_size]))
        for start in range(0, len(array), batch_size)
    ]
    return np.concatenate(chunks) if chunks else model.predict(array, verbose=0)


def probabilities(
    model: keras.Model | ExportedModel,
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

    ``model`` may also be an exported model (``load_exported``), run by its own runtime.
    """
    if isinstance(model, ExportedModel):
        return _exported_probabilities(model, inputs, batch_size, tta)
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
    raw = _predict_array(model, array, batch_size)
    if tta:
        raw = (raw + _predict_array(model, np.ascontiguousarray(array[:, :, ::-1]), batch_size)) / 2
    return _class_columns(raw)
