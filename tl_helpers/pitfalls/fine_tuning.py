"""Fine-tuning experiments on stored activations (pitfalls 2-4 and 13): a staged run on a copy
of the top blocks, whether ``training=False`` keeps BatchNorm in inference mode, and a linear
probe of how good the features still are."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_at_least
from tl_helpers.models import output_layer
from tl_helpers.training.features import FeatureSet
from tl_helpers.training.recipes import set_seeds, train_head

__all__ = [
    "FineTuningRun",
    "linear_probe",
    "relative_change",
    "stage_fine_tuning",
    "training_false_sticks",
]


@dataclass
class FineTuningRun:
    """One staged fine-tuning run: accuracy before and after every epoch, and how far the
    base's convolution kernels moved."""

    name: str
    validation_accuracy: list[float]  # [before training, after epoch 1, ...]
    train_accuracy: list[float]  # as Keras reports it during each epoch
    weight_change: float  # ||W_after - W_before|| / ||W_before|| over the unfrozen kernels
    seconds: float
    top: keras.Model = field(repr=False)  # the trained copy; the caller's model is untouched

    @property
    def final(self) -> float:
        return self.validation_accuracy[-1]

    @property
    def worst(self) -> float:
        return min(self.validation_accuracy[1:])


def _kernels(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in model.weights if len(w.shape) == 4]


def relative_change(before: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> float:
    """How far a list of weight arrays moved, relative to their size (0 = unchanged)."""
    if len(before) != len(after) or not before:
        raise CourseError(
            "relative_change needs two equally long, non-empty lists of weight arrays"
        )
    moved = sum(
        float(np.sum((np.asarray(b, np.float64) - np.asarray(a, np.float64)) ** 2))
        for a, b in zip(before, after)
    )
    size = sum(float(np.sum(np.asarray(a, np.float64) ** 2)) for a in before)
    return float(np.sqrt(moved / size))


def _staged_model(
    top: keras.Model,
    input_shape: tuple[int, ...],
    num_classes: int,
    head: keras.Model | None,
    batchnorm: str,
    train_base: bool,
) -> tuple[keras.Model, keras.Model]:
    """A copy of ``top`` with pooling and an output layer on top, and the copy itself; its
    random weights come from the generators ``set_seeds`` seeded."""
    copy = keras.models.clone_model(top)
    copy.set_weights(top.get_weights())
    for layer in copy.layers:
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train_base and (batchnorm == "training" or not is_batchnorm)
    inputs = keras.Input(shape=input_shape, name="activations")
    features = copy(inputs) if batchnorm == "training" else copy(inputs, training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    output = output_layer(num_classes, seed=None)
    model = keras.Model(inputs, output(pooled))
    if head is not None:  # a build_head head ends in its output layer
        output.set_weights(head.layers[-1].get_weights())
    return model, copy


def stage_fine_tuning(
    top: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    num_classes: int,
    head: keras.Model | None,
    learning_rate: float,
    epochs: int = 3,
    batchnorm: str = "inference",
    train_base: bool = True,
    batch_size: int = 16,
    name: str = "",
    seed: int = DEFAULT_SEED,
) -> FineTuningRun:
    """Train a *copy* of ``top`` (the upper blocks of a base, from ``split_backbone``) plus a
    dense output layer on stored activations, the way each pitfall needs it.

    ``head``: a trained head (``train_head``) whose output layer starts converged, or ``None`` for
    a freshly initialised one. ``batchnorm="inference"`` keeps BatchNorm frozen and in inference
    mode (the right way); ``"training"`` unfreezes it and lets ``fit`` run it in training mode,
    as a model built without ``training=False`` does. ``train_base=False`` trains the head only.
    """
    if batchnorm not in ("inference", "training"):
        raise CourseError(f"batchnorm must be 'inference' or 'training', got {batchnorm!r}")
    check_at_least("epochs", epochs)
    set_seeds(seed)
    model, copy = _staged_model(top, train[0].shape[1:], num_classes, head, batchnorm, train_base)
    loss = "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])

    before = _kernels(copy)
    start_accuracy = float(model.evaluate(*validation, batch_size=128, verbose=0)[1])
    start = time.perf_counter()
    fitted = model.fit(
        *train, validation_data=validation, batch_size=batch_size, epochs=epochs, verbose=0
    )
    seconds = time.perf_counter() - start
    return FineTuningRun(
        name=name,
        validation_accuracy=[start_accuracy] + [float(v) for v in fitted.history["val_accuracy"]],
        train_accuracy=[float(v) for v in fitted.history["accuracy"]],
        weight_change=relative_change(before, _kernels(copy)),
        seconds=seconds,
        top=copy,
    )


def training_false_sticks(part: keras.Model, sample: np.ndarray) -> bool:
    """Does ``part(x, training=False)`` inside a model keep BatchNorm in inference mode once its
    BatchNorm layers are unfrozen? Builds that model on a copy of ``part`` with every layer
    trainable and compares a training-mode call with an inference-mode call on ``sample``.
    (Keras 3 passes ``fit``'s ``training=True`` down regardless, so the answer is False: only
    ``trainable = False`` on the BatchNorm layers keeps them in inference mode.)"""
    copy = keras.models.clone_model(part)
    copy.set_weights(part.get_weights())
    copy.trainable = True
    inputs = keras.Input(shape=sample.shape[1:])
    model = keras.Model(inputs, copy(inputs, training=False))
    as_in_fit = np.asarray(model(sample, training=True))
    as_in_predict = np.asarray(model(sample, training=False))
    return bool(np.allclose(as_in_fit, as_in_predict, atol=1e-5))


def linear_probe(
    top: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    seed: int = DEFAULT_SEED,
) -> float:
    """How good the features of ``top`` still are: validation accuracy of a fresh head trained
    on them (at its best validation loss). Damaged features give a lower number."""
    pooled = keras.Sequential([top, keras.layers.GlobalAveragePooling2D()])

    def features(part: tuple[np.ndarray, np.ndarray]) -> FeatureSet:
        values = pooled.predict(part[0].astype(np.float32), batch_size=128, verbose=0)
        return FeatureSet(values, np.asarray(part[1], np.int32), ())

    _head, history = train_head(
        features(train), features(validation), num_classes, seed=seed, verbose=False
    )
    best_epoch = int(np.argmin(history.history["val_loss"]))
    return history.history["val_accuracy"][best_epoch]
