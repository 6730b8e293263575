"""Staging the classic transfer-learning mistakes, so that notebook 05 can measure them.

Each helper builds the *wrong* version of one step next to the right one, on the same data,
seed and budget, and returns numbers rather than opinions. They are small on purpose: the
notebook shows the mistake in its own cells; these functions only do the bookkeeping that
would otherwise bury the point (cloning a model so that experiments do not leak into each
other, iterating a ``tf.data`` pipeline epoch by epoch, resampling a test split).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.training.features import FeatureSet
from tl_helpers.training.recipes import set_seeds, train_head

# ----------------------------------------------------------------------------------------------
# Small in-memory data and the summary table
# ----------------------------------------------------------------------------------------------


def image_arrays(split: Split, image_size: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All images of a (small) split in memory: ``(images float32 0-255, labels int32)``."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    images, labels = [], []
    for batch_images, batch_labels in make_dataset(split, image_size=size, cache=False):
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    if not images:
        raise CourseError("the split is empty: nothing to load")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def first_per_class(labels: Sequence[int], count: int) -> np.ndarray:
    """Positions of the first ``count`` examples of every class, in their original order: a
    smaller, still balanced and deterministic training set."""
    labels = np.asarray(labels)
    if count < 1:
        raise CourseError(f"count must be at least 1, got {count}")
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:count] for c in np.unique(labels)]))


@dataclass
class PitfallSummary:
    """Rows of (pitfall, what was measured, wrong, right), printed as one table at the end."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, pitfall: str, measure: str, wrong: str, right: str) -> None:
        self.rows = [row for row in self.rows if row[0] != pitfall] + [(pitfall, measure, wrong, right)]

    def table(self) -> str:
        header = ("pitfall", "measured", "wrong", "right")
        widths = [max(len(str(row[i])) for row in [header, *self.rows]) for i in range(4)]
        lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *self.rows]]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# 1. Input scaling
# ----------------------------------------------------------------------------------------------

SCALING_MISTAKES: dict[str, str] = {
    "correct": "0-255 pixels, as this backbone expects (it rescales to -1..1 inside)",
    "rescale_1_255": "Rescaling(1/255) in front: 0-1 pixels reach a model that expects 0-255",
    "channels_swapped": "BGR instead of RGB: the caffe channel order given to an RGB model",
    "mean_not_subtracted": "the centring step skipped: the convolutions see 0..2 instead of -1..1",
    "caffe_step_skipped": "both at once, as when VGG16's caffe preprocessing is left out",
}


def mistaken_input(images: np.ndarray, mistake: str) -> np.ndarray:
    """What a mistaken pipeline hands a backbone that takes 0-255 RGB and rescales inside
    (``x -> (x - 127) / 128``, EfficientNet-Lite0 here). ``images``: float, 0-255, RGB."""
    if mistake not in SCALING_MISTAKES:
        raise CourseError(f"unknown scaling mistake {mistake!r}; choose one of {', '.join(SCALING_MISTAKES)}")
    images = np.asarray(images, dtype=np.float32)
    if mistake == "correct":
        return images
    if mistake == "rescale_1_255":
        return images / 255.0
    # For the centring mistake, feed x + 127 so that the model's own (x - 127) / 128 gives x / 128:
    # exactly what its convolutions would see had the subtraction been forgotten.
    swapped = images[..., ::-1] if mistake in ("channels_swapped", "caffe_step_skipped") else images
    return swapped + 127.0 if mistake in ("mean_not_subtracted", "caffe_step_skipped") else swapped


# ----------------------------------------------------------------------------------------------
# 2-4, 13. Fine-tuning experiments on stored activations
# ----------------------------------------------------------------------------------------------


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
        raise CourseError("relative_change needs two equally long, non-empty lists of weight arrays")
    moved = sum(float(np.sum((np.asarray(b, np.float64) - np.asarray(a, np.float64)) ** 2)) for a, b in zip(before, after))
    size = sum(float(np.sum(np.asarray(a, np.float64) ** 2)) for a in before)
    return float(np.sqrt(moved / size))


def _output_layer_name(num_classes: int) -> str:
    return "probability" if num_classes == 2 else "probabilities"


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
    if epochs < 1:
        raise CourseError(f"epochs must be at least 1, got {epochs}")
    set_seeds(seed)
    copy = keras.models.clone_model(top)
    copy.set_weights(top.get_weights())
    for layer in copy.layers:
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train_base and (batchnorm == "training" or not is_batchnorm)
    inputs = keras.Input(shape=train[0].shape[1:], name="activations")
    features = copy(inputs) if batchnorm == "training" else copy(inputs, training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    binary = num_classes == 2
    output = keras.layers.Dense(1 if binary else num_classes, activation="sigmoid" if binary else "softmax",
                                name=_output_layer_name(num_classes))
    model = keras.Model(inputs, output(pooled))
    if head is not None:
        output.set_weights(head.get_layer(_output_layer_name(num_classes)).get_weights())
    loss = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])

    before = _kernels(copy)
    start_accuracy = float(model.evaluate(*validation, batch_size=128, verbose=0)[1])
    start = time.perf_counter()
    fitted = model.fit(*train, validation_data=validation, batch_size=batch_size, epochs=epochs, verbose=0)
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


def linear_probe(top: keras.Model, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
                 num_classes: int, seed: int = DEFAULT_SEED) -> float:
    """How good the features of ``top`` still are: validation accuracy of a fresh head trained
    on them (at its best validation loss). Damaged features give a lower number."""
    pooled = keras.Sequential([top, keras.layers.GlobalAveragePooling2D()])

    def features(part: tuple[np.ndarray, np.ndarray]) -> FeatureSet:
        values = pooled.predict(part[0].astype(np.float32), batch_size=128, verbose=0)
        return FeatureSet(values, np.asarray(part[1], np.int32), ())

    _head, history = train_head(features(train), features(validation), num_classes, seed=seed, verbose=False)
    best_epoch = int(np.argmin(history.history["val_loss"]))
    return history.history["val_accuracy"][best_epoch]


# ----------------------------------------------------------------------------------------------
# 7. Split leakage with shuffle + take/skip
# ----------------------------------------------------------------------------------------------


def shuffled_take_skip(count: int, test_size: int, *, reshuffle: bool, seed: int = DEFAULT_SEED) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The split many tutorials write: shuffle the indices ``0..count-1``, ``take`` a test set and
    ``skip`` it for training. ``reshuffle=True`` is ``tf.data``'s default, and the bug: every pass
    over either dataset draws a new order, so the test set changes each time it is read and
    overlaps the training data. ``reshuffle=False`` fixes the order once: the two never meet.
    Returns ``(train, test)`` datasets of indices."""
    if not 0 < test_size < count:
        raise CourseError(f"test_size must be between 1 and {count - 1}, got {test_size}")
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=reshuffle)
    return indices.skip(test_size), indices.take(test_size)


def indices_seen(dataset: tf.data.Dataset, passes: int = 1) -> list[np.ndarray]:
    """The indices one pass over ``dataset`` yields, for each of ``passes`` passes (what training
    sees epoch by epoch, or what each evaluation reads)."""
    return [np.fromiter((int(i) for i in dataset.as_numpy_iterator()), dtype=np.int64) for _ in range(passes)]


# ----------------------------------------------------------------------------------------------
# 10. Class imbalance
# ----------------------------------------------------------------------------------------------


def drop_most_of_class(features: FeatureSet, class_index: int, keep: int) -> FeatureSet:
    """A copy of ``features`` with only the first ``keep`` examples of one class: an imbalanced
    training set made from a balanced one."""
    labels = np.asarray(features.labels)
    if class_index not in set(labels.tolist()):
        raise CourseError(f"class {class_index} does not occur in these features")
    positions = np.flatnonzero(labels == class_index)
    if not 0 < keep <= len(positions):
        raise CourseError(f"keep must be between 1 and {len(positions)}, got {keep}")
    kept = np.sort(np.concatenate([np.flatnonzero(labels != class_index), positions[:keep]]))
    files = tuple(features.files[i] for i in kept) if features.files else ()
    return FeatureSet(features.features[kept], labels[kept], files)


# ----------------------------------------------------------------------------------------------
# 12. Choosing on the test split
# ----------------------------------------------------------------------------------------------


@dataclass
class SelectionBias:
    """What choosing among candidates on one half of the test split reports, against what the
    chosen candidate scores on the other, held-back half (averaged over random halvings)."""

    reported: float  # mean accuracy, on the half used to choose, of the candidate chosen there
    held_back: float  # mean accuracy of that same candidate on the other half
    repeats: int

    @property
    def optimism(self) -> float:
        return self.reported - self.held_back


def selection_bias(correct: np.ndarray, *, chosen_by: np.ndarray | None = None, repeats: int = 200,
                   seed: int = DEFAULT_SEED) -> SelectionBias:
    """``correct``: (candidates, test examples) booleans, whether each candidate got each test
    example right. Each repeat splits the examples into two random halves, picks a candidate, and
    scores it on both halves. Without ``chosen_by`` the pick is the best on the first half (the
    mistake); with ``chosen_by`` (one score per candidate, e.g. validation accuracy) the pick is
    the best by that score, independent of the test data (the fix)."""
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2 or correct.shape[0] < 1 or correct.shape[1] < 2:
        raise CourseError(f"correct must be (candidates, examples) with at least 2 examples, got shape {correct.shape}")
    if chosen_by is not None and len(chosen_by) != correct.shape[0]:
        raise CourseError(f"chosen_by needs one score per candidate ({correct.shape[0]}), got {len(chosen_by)}")
    rng = np.random.default_rng(seed)
    count = correct.shape[1]
    reported, held_back = [], []
    for _ in range(repeats):
        order = rng.permutation(count)
        first, second = order[: count // 2], order[count // 2:]
        first_scores = correct[:, first].mean(axis=1)
        pick = int(np.argmax(first_scores if chosen_by is None else np.asarray(chosen_by)))
        reported.append(first_scores[pick])
        held_back.append(correct[pick, second].mean())
    return SelectionBias(float(np.mean(reported)), float(np.mean(held_back)), repeats)


@dataclass
class Candidates:
    """Heads trained with different settings, each scored on validation and on every test example."""

    names: list[str]
    validation_accuracy: np.ndarray  # (candidates,)
    test_correct: np.ndarray  # (candidates, test examples) booleans


def head_candidates(train: FeatureSet, validation: FeatureSet, test: FeatureSet, num_classes: int, *,
                    learning_rates: Sequence[float], dropouts: Sequence[float], checkpoints: Sequence[int],
                    seed: int = DEFAULT_SEED) -> Candidates:
    """A small hyper-parameter search on stored features: one head per learning rate and dropout,
    trained for ``max(checkpoints)`` epochs and scored after each epoch in ``checkpoints``. Every
    (setting, epoch count) is one candidate, as if each had been trained for that long."""
    if not learning_rates or not dropouts or not checkpoints or min(checkpoints) < 1:
        raise CourseError("head_candidates needs learning rates, dropouts and checkpoint epochs of at least 1")
    names: list[str] = []
    validation_scores: list[float] = []
    correct: list[np.ndarray] = []

    def predicted(head: keras.Model, features: FeatureSet) -> np.ndarray:
        raw = head.predict(features.features, batch_size=512, verbose=0)
        return (raw[:, 0] > 0.5).astype(np.int32) if raw.shape[1] == 1 else raw.argmax(axis=1)

    class Score(keras.callbacks.Callback):
        def __init__(self, setting: str) -> None:
            super().__init__()
            self.setting = setting

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch + 1 in checkpoints:
                names.append(f"{self.setting}, {epoch + 1} epochs")
                validation_scores.append(float(np.mean(predicted(self.model, validation) == validation.labels)))
                correct.append(predicted(self.model, test) == test.labels)

    for learning_rate in learning_rates:
        for dropout in dropouts:
            set_seeds(seed)
            head = _plain_head(train.features.shape[1], num_classes, dropout)
            head.compile(optimizer=keras.optimizers.Adam(learning_rate),
                         loss="binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy")
            head.fit(train.features, train.labels, batch_size=64, epochs=max(checkpoints), verbose=0,
                     callbacks=[Score(f"lr {learning_rate:g}, dropout {dropout:g}")])
    return Candidates(names, np.asarray(validation_scores), np.asarray(correct))


def _plain_head(channels: int, num_classes: int, dropout: float) -> keras.Model:
    inputs = keras.Input(shape=(channels,))
    x = keras.layers.Dropout(dropout)(inputs) if dropout else inputs
    units, activation = (1, "sigmoid") if num_classes == 2 else (num_classes, "softmax")
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(x))


# ----------------------------------------------------------------------------------------------
# 9, 11. Output activations, losses and label formats
# ----------------------------------------------------------------------------------------------


@dataclass
class HeadVariant:
    """A head trained with one combination of output, loss and label format, or the error that
    stopped it. ``warnings`` holds what Keras warned while training."""

    description: str
    model: keras.Model | None
    history: dict[str, list[float]]
    error: str | None
    warnings: list[str]


def output_accuracy(outputs: np.ndarray, labels: Sequence[int], threshold: float = 0.5) -> float:
    """Accuracy computed from a model's raw outputs: arg-max for several outputs, ``> threshold``
    for one. Independent of whatever metric the model was compiled with."""
    outputs = np.asarray(outputs)
    predicted = (outputs[:, 0] > threshold).astype(int) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def fit_head_variant(train: FeatureSet, validation: FeatureSet, *, units: int, activation: str | None,
                     loss: str | keras.losses.Loss, one_hot: int | None = None, epochs: int = 5,
                     learning_rate: float = 1e-3, metrics: Sequence[str] = ("accuracy",),
                     after_output: keras.layers.Layer | None = None, seed: int = DEFAULT_SEED) -> HeadVariant:
    """Train ``Dense(units, activation)`` on stored features with ``loss``; labels as integers, or
    one-hot with ``one_hot`` classes. ``after_output``: a layer applied after the activation (a
    reshape, say), which hides the activation from Keras's own checks. An error in training is
    caught and reported in one line, because in this notebook the error *is* the result."""
    loss_name = loss if isinstance(loss, str) else f"{type(loss).__name__}({', '.join(f'{k}={v}' for k, v in _loss_options(loss).items())})"
    then = f" -> {type(after_output).__name__}" if after_output is not None else ""
    description = f"{'one-hot' if one_hot else 'integer'} labels, Dense({units}, {activation}){then}, {loss_name}"

    def targets(labels: np.ndarray) -> np.ndarray:
        return keras.utils.to_categorical(labels, one_hot) if one_hot else np.asarray(labels, np.float32 if units == 1 else np.int32)

    set_seeds(seed)
    inputs = keras.Input(shape=(train.features.shape[1],))
    outputs = keras.layers.Dense(units, activation=activation)(inputs)
    model = keras.Model(inputs, after_output(outputs) if after_output is not None else outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=list(metrics))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = model.fit(train.features, targets(train.labels), batch_size=64, epochs=epochs, verbose=0,
                               validation_data=(validation.features, targets(validation.labels)))
        except Exception as error:  # noqa: BLE001 - the message is what this experiment measures
            return HeadVariant(description, None, {}, f"{type(error).__name__}: {_telling_line(str(error))}",
                               [str(w.message) for w in caught])
    return HeadVariant(description, model, {k: [float(v) for v in vs] for k, vs in fitted.history.items()}, None,
                       [str(w.message) for w in caught])


def _telling_line(message: str) -> str:
    """The line of a (possibly long, TensorFlow-runtime) error message that says what was wrong."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Received a label value", "Arguments `target`", "Argument `output`")):
            return line[:200]
    return (lines[0] if lines else "no message")[:200]


def _loss_options(loss: keras.losses.Loss) -> dict[str, object]:
    config = loss.get_config()
    return {key: config[key] for key in ("from_logits",) if key in config}


# ----------------------------------------------------------------------------------------------
# 8. Augmentation placed before cache()
# ----------------------------------------------------------------------------------------------


def identical_across_passes(dataset: tf.data.Dataset) -> float:
    """Read ``dataset`` twice (two epochs) and return the share of elements that came out
    exactly the same both times: 1.0 means the "random" augmentation is frozen."""
    def images(element: object) -> np.ndarray:  # the first part of (images, labels) pairs
        return np.asarray(element[0] if isinstance(element, tuple) else element)

    first = [images(x) for x in dataset.as_numpy_iterator()]
    second = [images(x) for x in dataset.as_numpy_iterator()]
    if not first or len(first) != len(second):
        raise CourseError("the dataset must yield the same, non-zero number of elements on each pass")
    return float(np.mean([np.array_equal(a, b) for a, b in zip(first, second)]))


# ----------------------------------------------------------------------------------------------
# A pattern checker for the mistakes that show in the source
# ----------------------------------------------------------------------------------------------

_RESCALE_255 = re.compile(r"(Rescaling\(\s*(scale\s*=\s*)?1\.?0*\s*/\s*255|rescale\s*=\s*1\.?0*\s*/\s*255)")
_APPLICATION = re.compile(r"applications\.\w+\s*\(|applications\.\w+\.\w+\s*\(")


def lint_pitfalls(source: str) -> dict[int, str]:
    """Look for the mistakes of notebook 05 that can be seen in Keras code itself: a map from
    pitfall number to the reason. A heuristic, not a proof: it reads patterns, it does not run
    anything, and it cannot see mistakes that only show in the numbers (10, 12)."""
    found: dict[int, str] = {}
    uses_application = bool(_APPLICATION.search(source))
    if _RESCALE_255.search(source) and uses_application:
        found[1] = "pixels rescaled to 0..1 in front of a keras.applications model: none of them expects 0..1 (use its preprocess_input)"
    if uses_application and not re.search(r"\.trainable\s*=\s*False", source):
        found[2] = "a pretrained base is used, but nothing is ever set to trainable = False"
    if re.search(r"\.trainable\s*=\s*True", source) and "BatchNormalization" not in source:
        found[3] = "the base is unfrozen wholesale: in Keras 3 its BatchNorm layers then train too (freeze them)"
    compiles = [m.start() for m in re.finditer(r"\.compile\(", source)]
    fits = [m.start() for m in re.finditer(r"\.fit\(", source)]
    for change in re.finditer(r"\.trainable\s*=", source):
        later_fit = [f for f in fits if f > change.start()]
        if compiles and later_fit and not any(change.start() < c < later_fit[0] for c in compiles):
            found[5] = "trainable changed after compile and before fit, with no compile in between"
    if re.search(r"Flatten\(", source) and uses_application:
        found[6] = "Flatten on a pretrained base's feature map: use GlobalAveragePooling2D"
    if re.search(r"\.shuffle\(", source) and re.search(r"\.(take|skip)\(", source) and "reshuffle_each_iteration=False" not in source:
        found[7] = "shuffle then take/skip: the split is redrawn on every pass (reshuffle_each_iteration defaults to True)"
    if re.search(r"map\([^\n]*(augment|Random\w+)[^\n]*\)\s*\.cache\(\)", source):
        found[8] = "cache() after a random augmentation: every epoch replays the first epoch's images"
    if "from_logits=True" in source and re.search(r"activation\s*=\s*['\"](sigmoid|softmax)['\"]", source):
        found[9] = "from_logits=True with a sigmoid/softmax output: the activation is applied twice"
    label_mode = re.search(r"label_mode\s*=\s*['\"](\w+)['\"]", source)
    mode = label_mode.group(1) if label_mode else ("int" if "image_dataset_from_directory" in source else None)
    if mode == "int" and re.search(r"(?<!sparse_)categorical_crossentropy|(?<!Sparse)CategoricalCrossentropy", source):
        found[11] = "integer labels (label_mode='int', the default) with categorical_crossentropy: use sparse_categorical_crossentropy"
    if mode == "categorical" and re.search(r"sparse_categorical_crossentropy|SparseCategoricalCrossentropy", source):
        found[11] = "one-hot labels (label_mode='categorical') with the sparse loss: use categorical_crossentropy"
    return dict(sorted(found.items()))
