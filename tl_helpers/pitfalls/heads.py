"""Heads on stored features for pitfalls 9, 11 and 12: output activations, losses and label
formats that do or do not fit together, and what choosing among candidates on the test split
reports compared with what the choice is worth."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.errors import CourseError
from tl_helpers.models import build_head
from tl_helpers.training.features import FeatureSet
from tl_helpers.training.recipes import set_seeds

__all__ = [
    "Candidates",
    "HeadVariant",
    "SelectionBias",
    "fit_head_variant",
    "head_candidates",
    "output_accuracy",
    "selection_bias",
]


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


def selection_bias(
    correct: np.ndarray,
    *,
    chosen_by: np.ndarray | None = None,
    repeats: int = 200,
    seed: int = DEFAULT_SEED,
) -> SelectionBias:
    """``correct``: (candidates, test examples) booleans, whether each candidate got each test
    example right. Each repeat splits the examples into two random halves, picks a candidate, and
    scores it on both halves. Without ``chosen_by`` the pick is the best on the first half (the
    mistake); with ``chosen_by`` (one score per candidate, e.g. validation accuracy) the pick is
    the best by that score, independent of the test data (the fix)."""
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2 or correct.shape[0] < 1 or correct.shape[1] < 2:
        raise CourseError(
            f"correct must be (candidates, examples) with at least 2 examples, got shape {correct.shape}"
        )
    if chosen_by is not None and len(chosen_by) != correct.shape[0]:
        raise CourseError(
            f"chosen_by needs one score per candidate ({correct.shape[0]}), got {len(chosen_by)}"
        )
    rng = np.random.default_rng(seed)
    count = correct.shape[1]
    reported, held_back = [], []
    for _ in range(repeats):
        order = rng.permutation(count)
        first, second = order[: count // 2], order[count // 2 :]
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


def head_candidates(
    train: FeatureSet,
    validation: FeatureSet,
    test: FeatureSet,
    num_classes: int,
    *,
    learning_rates: Sequence[float],
    dropouts: Sequence[float],
    checkpoints: Sequence[int],
    seed: int = DEFAULT_SEED,
) -> Candidates:
    """A small hyper-parameter search on stored features: one head per learning rate and dropout,
    trained for ``max(checkpoints)`` epochs and scored after each epoch in ``checkpoints``. Every
    (setting, epoch count) is one candidate, as if each had been trained for that long."""
    if not learning_rates or not dropouts or not checkpoints or min(checkpoints) < 1:
        raise CourseError(
            "head_candidates needs learning rates, dropouts and checkpoint epochs of at least 1"
        )
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
                validation_scores.append(
                    float(np.mean(predicted(self.model, validation) == validation.labels))
                )
                correct.append(predicted(self.model, test) == test.labels)

    for learning_rate in learning_rates:
        for dropout in dropouts:
            set_seeds(seed)
            head = build_head(train.features.shape[1], num_classes, dropout=dropout, seed=None)
            head.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss="binary_crossentropy"
                if num_classes == 2
                else "sparse_categorical_crossentropy",
            )
            head.fit(
                train.features,
                train.labels,
                batch_size=64,
                epochs=max(checkpoints),
                verbose=0,
                callbacks=[Score(f"lr {learning_rate:g}, dropout {dropout:g}")],
            )
    return Candidates(names, np.asarray(validation_scores), np.asarray(correct))


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
    predicted = (
        (outputs[:, 0] > threshold).astype(int) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
    )
    return float(np.mean(predicted == np.asarray(labels)))


def _describe_variant(
    units: int,
    activation: str | None,
    loss: str | keras.losses.Loss,
    one_hot: int | None,
    after_output: keras.layers.Layer | None,
) -> str:
    """One line naming a head variant: its labels, output layer and loss."""
    loss_name = (
        loss
        if isinstance(loss, str)
        else f"{type(loss).__name__}({', '.join(f'{k}={v}' for k, v in _loss_options(loss).items())})"
    )
    then = f" -> {type(after_output).__name__}" if after_output is not None else ""
    labels = "one-hot" if one_hot else "integer"
    return f"{labels} labels, Dense({units}, {activation}){then}, {loss_name}"


def fit_head_variant(
    train: FeatureSet,
    validation: FeatureSet,
    *,
    units: int,
    activation: str | None,
    loss: str | keras.losses.Loss,
    one_hot: int | None = None,
    epochs: int = 5,
    learning_rate: float = 1e-3,
    metrics: Sequence[str] = ("accuracy",),
    after_output: keras.layers.Layer | None = None,
    seed: int = DEFAULT_SEED,
) -> HeadVariant:
    """Train ``Dense(units, activation)`` on stored features with ``loss``; labels as integers, or
    one-hot with ``one_hot`` classes. ``after_output``: a layer applied after the activation (a
    reshape, say), which hides the activation from Keras's own checks. An error in training is
    caught and reported in one line, because in this notebook the error *is* the result."""
    description = _describe_variant(units, activation, loss, one_hot, after_output)

    def targets(labels: np.ndarray) -> np.ndarray:
        return (
            keras.utils.to_categorical(labels, one_hot)
            if one_hot
            else np.asarray(labels, np.float32 if units == 1 else np.int32)
        )

    set_seeds(seed)
    inputs = keras.Input(shape=(train.features.shape[1],))
    outputs = keras.layers.Dense(units, activation=activation)(inputs)
    model = keras.Model(inputs, after_output(outputs) if after_output is not None else outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=list(metrics))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = model.fit(
                train.features,
                targets(train.labels),
                batch_size=64,
                epochs=epochs,
                verbose=0,
                validation_data=(validation.features, targets(validation.labels)),
            )
        except Exception as error:  # noqa: BLE001 - the message is what this experiment measures
            return HeadVariant(
                description,
                None,
                {},
                f"{type(error).__name__}: {_telling_line(str(error))}",
                [str(w.message) for w in caught],
            )
    return HeadVariant(
        description,
        model,
        {k: [float(v) for v in vs] for k, vs in fitted.history.items()},
        None,
        [str(w.message) for w in caught],
    )


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
