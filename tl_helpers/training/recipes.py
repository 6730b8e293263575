"""Training recipes: fast feature extraction, end-to-end training with augmentation, fine-tuning.

Every recipe
- sets the course seed first, so a rerun gives the same numbers;
- stops early when the validation loss stops improving and keeps the best weights;
- never looks at the test split: that is ``evaluate``'s job, once, at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers.backbones import DEFAULT_BACKBONE, backbone_size
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.splits import DatasetSplits, Split
from tl_helpers.errors import CourseError
from tl_helpers.evaluation import EvaluationReport, report_from_probabilities
from tl_helpers.limits import check_at_least, check_image_size
from tl_helpers.models import (
    build_classifier,
    build_head,
    check_compiled,
    classifier_parts,
    compile_classifier,
    probabilities,
    unfreeze_top,
)
from tl_helpers.recipe import TrainRecipe
from tl_helpers.training.activations import RecipeActivations
from tl_helpers.training.callbacks import EpochLine, backup_callback, training_callbacks
from tl_helpers.training.features import FeatureSet, extract_features
from tl_helpers.training.strategy import distributed_data

__all__ = [
    "FeatureExtractionResult",
    "TrainingHistory",
    "balanced_class_weights",
    "classifier_from_head",
    "feature_extraction",
    "fine_tune",
    "fit",
    "recipe_head",
    "set_seeds",
    "train_head",
]


def set_seeds(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy and TensorFlow in one call (the one place the course seeds them)."""
    keras.utils.set_random_seed(seed)


@dataclass
class TrainingHistory:
    """Per-epoch metrics of one or more training phases, joined end to end."""

    history: dict[str, list[float]] = field(default_factory=dict)
    fine_tune_start: int | None = None  # number of epochs before fine-tuning began

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    def extend(self, more: dict[str, list[float]], fine_tuning: bool = False) -> TrainingHistory:
        if fine_tuning:
            self.fine_tune_start = self.epochs
        for name, values in more.items():
            self.history.setdefault(name, []).extend(float(v) for v in values)
        return self

    def best(self, metric: str = "val_accuracy") -> float:
        return max(self.history[metric])


# ----------------------------------------------------------------------------------------------
# Fast feature extraction
# ----------------------------------------------------------------------------------------------


def _feature_dataset(
    features: FeatureSet, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((features.features, features.labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_head(
    train: FeatureSet,
    validation: FeatureSet,
    num_classes: int,
    *,
    dropout: float = 0.2,
    learning_rate: float = 1e-3,
    batch_size: int = 64,
    epochs: int = 100,
    patience: int = 5,
    seed: int = DEFAULT_SEED,
    verbose: bool = True,
    class_weight: dict[int, float] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, TrainingHistory]:
    """Train a head on stored features: seconds instead of minutes, same result as a frozen base.

    ``class_weight`` (class index -> weight, e.g. ``balanced_class_weights(train.labels)``) makes
    each example of a rare class count more in the loss; ``callbacks`` run after the course's own
    (early stopping, and the epoch lines when ``verbose``).

    The head trains on one device even when a strategy is in use: it takes seconds, and every
    worker trains the same head from the same features and seed."""
    check_at_least("epochs", epochs)
    set_seeds(seed)
    # seed=None: the head draws its initial weights from the generators set_seeds just seeded.
    head = build_head(train.features.shape[1], num_classes, dropout=dropout, seed=None)
    # One compiled call per epoch: the arrays are tiny, Python overhead would dominate otherwise.
    compile_classifier(
        head, learning_rate, steps_per_execution=max(1, math.ceil(len(train) / batch_size))
    )
    fitted = head.fit(
        _feature_dataset(train, batch_size, True, seed),
        validation_data=_feature_dataset(validation, 512, False, seed),
        epochs=epochs,
        callbacks=[*training_callbacks(patience, verbose, "head "), *callbacks],
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
        class_weight=class_weight,
    )
    return head, TrainingHistory().extend(fitted.history)


def balanced_class_weights(labels: Sequence[int]) -> dict[int, float]:
    """Weights that make every class count as much in the loss as if all were equally common:
    ``total / (classes * count of the class)`` (the same rule as scikit-learn's "balanced")."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise CourseError("balanced_class_weights needs labels of at least two classes")
    return {int(c): float(counts.sum() / (len(present) * counts[c])) for c in present}


def classifier_from_head(
    head: keras.Model,
    backbone: str | keras.Model,
    class_names: Sequence[str],
    image_size: int | tuple[int, int] | None = None,
    augmentation: bool = False,
) -> keras.Model:
    """A complete image classifier: the pretrained base (by name, at ``image_size``, default its
    own; or a base already built) plus a head trained on its features (``train_head``). Both
    heads come from ``build_head``, so the weights copy across as they are."""
    dropout = next(
        (layer.rate for layer in head.layers if isinstance(layer, keras.layers.Dropout)), 0.0
    )
    model = build_classifier(
        backbone,
        len(class_names),
        class_names=class_names,
        image_size=image_size,
        dropout=dropout,
        augmentation=augmentation,
    )
    classifier_parts(model).head.set_weights(head.get_weights())
    return model


def recipe_head(
    frozen: RecipeActivations,
    recipe: TrainRecipe,
    class_names: Sequence[str],
    *,
    verbose: bool = True,
) -> tuple[keras.Model, TrainingHistory]:
    """The recipe's second step: a head trained on the pooled features of the frozen pass
    (``recipe_activations``), put on the very base that pass cut (built in the strategy's scope,
    so fine-tuning can run under it, and made of the layers ``recipe_fine_tune`` trains)."""
    head, history = train_head(
        frozen.train_features,
        frozen.validation_features,
        len(class_names),
        dropout=recipe.dropout,
        learning_rate=recipe.learning_rate,
        epochs=recipe.epochs,
        seed=recipe.seed,
        verbose=verbose,
    )
    with (frozen.strategy or tf.distribute.get_strategy()).scope():
        model = classifier_from_head(head, frozen.parts.base, class_names)
    return model, history


@dataclass
class FeatureExtractionResult:
    """What the fast recipe produced: the head, its history, the features it used and timings."""

    head: keras.Model
    history: TrainingHistory
    train: FeatureSet
    validation: FeatureSet
    backbone: str
    image_size: int | tuple[int, int]
    class_names: tuple[str, ...]
    seconds: dict[str, float]

    def validation_accuracy(self) -> float:
        """Validation accuracy of the head as returned: early stopping restored the epoch with the
        lowest validation loss, which is not always the epoch with the best accuracy
        (``history.best()``, a maximum over epochs, is optimistic)."""
        predicted = probabilities(self.head, self.validation.features).argmax(axis=1)
        return float(np.mean(predicted == self.validation.labels))

    def evaluate(self, split: Split) -> EvaluationReport:
        """The head on ``split``'s pooled features (``extract_features``: cached, so the base runs
        over those photos once, not on every call): the report ``evaluate(self.classifier(),
        split)`` gives from the images, up to the frozen pass's runtime tolerance."""
        features = extract_features(self.backbone, split, image_size=self.image_size, verbose=False)
        return report_from_probabilities(
            probabilities(self.head, features.features),
            split.labels,
            self.class_names,
            split.files,
        )

    def classifier(self, augmentation: bool = False) -> keras.Model:
        """The full image classifier (built on demand: it needs the base, the head does not)."""
        return classifier_from_head(
            self.head, self.backbone, self.class_names, self.image_size, augmentation
        )


def feature_extraction(
    splits: DatasetSplits,
    *,
    backbone: str = DEFAULT_BACKBONE,
    image_size: int | tuple[int, int] | None = None,
    batch_size: int = 32,
    epochs: int = 100,
    patience: int = 5,
    learning_rate: float = 1e-3,
    dropout: float = 0.2,
    seed: int = DEFAULT_SEED,
    maps: bool = False,
    verbose: bool = True,
) -> FeatureExtractionResult:
    """The fast recipe: features of train and validation (cached), then a head trained on them
    (with ``maps``, the feature sets keep their maps too: ``extract_features``); ``image_size``
    defaults to the backbone's own."""
    image_size = backbone_size(backbone, image_size)
    check_image_size(image_size, batch_size)
    timings = {}
    start = time.perf_counter()
    options = {"image_size": image_size, "batch_size": batch_size, "maps": maps, "verbose": verbose}
    train = extract_features(backbone, splits.train, **options)
    validation = extract_features(backbone, splits.validation, **options)
    timings["features"] = time.perf_counter() - start
    start = time.perf_counter()
    head, history = train_head(
        train,
        validation,
        len(splits.class_names),
        dropout=dropout,
        learning_rate=learning_rate,
        epochs=epochs,
        patience=patience,
        seed=seed,
        verbose=verbose,
    )
    timings["head"] = time.perf_counter() - start
    return FeatureExtractionResult(
        head, history, train, validation, backbone, image_size, splits.class_names, timings
    )


# ----------------------------------------------------------------------------------------------
# End to end: augmentation, fine-tuning
# ----------------------------------------------------------------------------------------------


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    *,
    epochs: int = 10,
    patience: int = 3,
    early_stopping: bool = True,
    verbose: bool = True,
    history: TrainingHistory | None = None,
    fine_tuning: bool = False,
    backup_dir: str | Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingHistory:
    """``model.fit`` with the course's rules: checked compile state, early stopping on validation
    loss with the best weights restored, and a history that can be joined with an earlier phase.

    It trains under the strategy the model was built in (``with strategy.scope():``); with
    ``backup_dir``, a killed run resumes from its last finished epoch (``backup_callback``);
    ``callbacks`` run after the course's own."""
    check_at_least("epochs", epochs)
    check_compiled(model)
    rules = (
        training_callbacks(patience, verbose, "fine-tune " if fine_tuning else "")
        if early_stopping
        else ([EpochLine()] if verbose else [])
    )
    backup = [backup_callback(backup_dir, model)] if backup_dir is not None else []
    fitted = model.fit(
        distributed_data(train),
        validation_data=distributed_data(validation),
        epochs=epochs,
        callbacks=[*backup, *rules, *callbacks],
        shuffle=False,
        verbose=0,
    )
    return (history or TrainingHistory()).extend(fitted.history, fine_tuning=fine_tuning)


def fine_tune(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    *,
    blocks: int = 3,
    learning_rate: float = 1e-5,
    epochs: int = 5,
    patience: int = 3,
    history: TrainingHistory | None = None,
    verbose: bool = True,
    backup_dir: str | Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingHistory:
    """Unfreeze the top ``blocks`` blocks of the base (BatchNorm stays frozen), recompile with a
    low learning rate and continue training. Call it only after the head has converged.

    Under a strategy (build the model in ``strategy.scope()``) each batch of ``train`` is the
    global batch, split across the replicas; ``backup_dir`` and ``callbacks`` as in ``fit``."""
    unfrozen = unfreeze_top(model, blocks=blocks)
    with model.distribute_strategy.scope():
        compile_classifier(model, learning_rate)
    if verbose:
        print(
            f"unfroze {len(unfrozen)} layers in the top {blocks} blocks; recompiled with learning rate {learning_rate:g}"
        )
    return fit(
        model,
        train,
        validation,
        epochs=epochs,
        patience=patience,
        verbose=verbose,
        history=history,
        fine_tuning=True,
        backup_dir=backup_dir,
        callbacks=callbacks,
    )
