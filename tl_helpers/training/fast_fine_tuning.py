"""Fast fine-tuning: cache what the frozen bottom of the base computes, train only the top.

When only the top blocks of the base are unfrozen (and BatchNorm stays in inference mode),
every layer *below* them computes exactly the same thing in every epoch. That is the same
observation that makes cached feature extraction fast, one level down: run the frozen bottom
once, store its output (the "activations" entering the first unfrozen block), and train the
top blocks plus the head on the stored arrays. On a laptop CPU that turns a fine-tuning epoch of
minutes into one of seconds to a minute, with the same trainable weights as ``fine_tune``.

What it gives up: pixel-level augmentation (rotation, zoom, colour) would change the bottom's
output, so it cannot be cached. Two augmentations survive:
- mirroring, exactly: the activations of the mirrored images are computed and stored too;
- small translations: a random crop of the activation map, a few cells smaller than it.

The trained layers *are* the base's layers (the top model reuses them), so after training the
ordinary full classifier already holds the fine-tuned weights: evaluate, save and predict on
images as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_at_least
from tl_helpers.models import (
    ClassifierParts,
    classifier_parts,
    compile_classifier,
    is_binary,
    unfreeze_top,
)
from tl_helpers.recipe import TrainRecipe
from tl_helpers.training.activations import ActivationSet, RecipeActivations, activation_dataset
from tl_helpers.training.callbacks import backup_callback, training_callbacks
from tl_helpers.training.cutting import split_backbone
from tl_helpers.training.recipes import TrainingHistory, set_seeds
from tl_helpers.training.strategy import distributed_data

__all__ = ["fast_fine_tune", "recipe_fine_tune"]


def _trainer(top: keras.Model, parts: ClassifierParts, channels: int) -> keras.Model:
    """A training model made of the classifier's own layer objects: the top blocks, then its
    pooling and head (BatchNorm stays in inference mode: ``unfreeze_top`` keeps it frozen)."""
    inputs = keras.Input(shape=(None, None, channels), name="activations")
    x = top(inputs, training=False)
    return keras.Model(inputs, parts.head(parts.pooling(x)), name="fast_fine_tuning")


def _pooling_parts(model: keras.Model) -> ClassifierParts:
    """The classifier's parts, if its head pools globally (the top blocks' output is pooled)."""
    parts = classifier_parts(model)
    if not isinstance(parts.pooling, keras.layers.GlobalAveragePooling2D):
        raise CourseError(
            "fast_fine_tune needs a classifier with a global-average-pooling head "
            "(build_classifier(head='pooling'))"
        )
    return parts


def _cut_top(
    base: keras.Model, train: ActivationSet, validation: ActivationSet, blocks: int
) -> keras.Model:
    """The classifier's base cut before its top ``blocks``, where the activations must have been
    cut: the top it returns is made of the base's own layers."""
    cut_base = split_backbone(base, blocks)
    if train.cut != cut_base.cut or validation.cut != cut_base.cut:
        raise CourseError(
            f"the activations were cut before {train.cut}, but blocks={blocks} cuts before "
            f"{cut_base.cut}: extract them with split_backbone(base, {blocks})"
        )
    return cut_base.top


def _compile_trainer(
    trainer: keras.Model, binary: bool, learning_rate: float, label_smoothing: float
) -> None:
    """Adam, cross-entropy with ``label_smoothing``, and accuracy, for one output or several."""
    if binary:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[accuracy])


@dataclass(frozen=True)
class _TopTraining:
    """How the top blocks train on cached activations: ``fast_fine_tune``'s settings, or a
    recipe's (``recipe_fine_tune``), checked once."""

    blocks: int
    learning_rate: float = 1e-4
    epochs: int = 8
    patience: int = 3
    batch_size: int = 32
    crop: int = 2
    label_smoothing: float = 0.1
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        check_at_least("epochs", self.epochs)


def _train_top(
    model: keras.Model,
    parts: ClassifierParts,
    top: keras.Model,
    train: ActivationSet,
    validation: ActivationSet,
    settings: _TopTraining,
    *,
    history: TrainingHistory | None,
    verbose: bool,
    backup_dir: str | Path | None,
    callbacks: Sequence[keras.callbacks.Callback],
) -> TrainingHistory:
    """Train ``top`` (the top blocks of ``model``'s base, made of its layers) and the head
    (``parts``, ``model``'s) on the cached activations; the model ends recompiled."""
    set_seeds(settings.seed)
    binary = is_binary(model)
    targets = {"num_classes": 2 if binary else int(model.output_shape[-1]), "binary": binary}
    unfrozen = unfreeze_top(model, blocks=settings.blocks)
    # Under a strategy, the training model, its optimizer and metrics are built in its scope.
    with model.distribute_strategy.scope():
        trainer = _trainer(top, parts, train.activations.shape[-1])
        _compile_trainer(trainer, binary, settings.learning_rate, settings.label_smoothing)
    height, width = train.activations.shape[1:3]
    if verbose:
        print(
            f"unfroze {len(unfrozen)} layers in the top {settings.blocks} blocks; training them "
            f"on cached {height}x{width} activations with learning rate {settings.learning_rate:g}"
        )
    # Shifts of more than a quarter of the map would cut away too much of a small map.
    augmented = {"batch_size": settings.batch_size, "augment": True, "seed": settings.seed}
    augmented["crop"] = min(settings.crop, min(height, width) // 4)
    backup = [] if backup_dir is None else [backup_callback(backup_dir, model)]
    fitted = trainer.fit(
        distributed_data(activation_dataset(train, **targets, **augmented)),
        validation_data=distributed_data(activation_dataset(validation, **targets, batch_size=128)),
        epochs=settings.epochs,
        callbacks=[
            *backup,
            *training_callbacks(settings.patience, verbose, "fine-tune "),
            *callbacks,
        ],
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
    )
    # The classifier shares every trained layer; compiling it records the new trainable state.
    with model.distribute_strategy.scope():
        compile_classifier(model, settings.learning_rate)
    return (history or TrainingHistory()).extend(fitted.history, fine_tuning=True)


def fast_fine_tune(
    model: keras.Model,
    train: ActivationSet,
    validation: ActivationSet,
    *,
    blocks: int,
    learning_rate: float = 1e-4,
    epochs: int = 8,
    patience: int = 3,
    batch_size: int = 32,
    crop: int = 2,
    label_smoothing: float = 0.1,
    history: TrainingHistory | None = None,
    seed: int = DEFAULT_SEED,
    verbose: bool = True,
    backup_dir: str | Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingHistory:
    """Fine-tune the top ``blocks`` blocks of a classifier's base (and its head) on activations
    cached below them. As in ``fine_tune``, BatchNorm stays frozen and in inference mode, early
    stopping on validation loss keeps the best epoch, and the model ends recompiled, ready to
    evaluate, save and predict on images. ``crop`` (cells, at most a quarter of the map) shifts
    the map at random; ``label_smoothing`` softens the targets, slowing memorisation.

    Under a strategy (build the classifier in ``strategy.scope()``), ``batch_size`` is the global
    batch, so the learning rate needs no scaling; with ``backup_dir`` a killed run resumes from
    its last finished epoch (``backup_callback``)."""
    settings = _TopTraining(
        blocks, learning_rate, epochs, patience, batch_size, crop, label_smoothing, seed
    )
    parts = _pooling_parts(model)
    top = _cut_top(parts.base, train, validation, blocks)
    return _train_top(
        model, parts, top, train, validation, settings,
        history=history, verbose=verbose, backup_dir=backup_dir, callbacks=callbacks,
    )  # fmt: skip


def recipe_fine_tune(
    model: keras.Model,
    frozen: RecipeActivations,
    recipe: TrainRecipe,
    history: TrainingHistory | None = None,
    *,
    verbose: bool = True,
    backup_dir: str | Path | None = None,
    patience: int = 3,
    batch_size: int = 32,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingHistory:
    """The recipe's last step: the top ``recipe.blocks`` blocks and the head fine-tuned on the
    cached activations (``fast_fine_tune`` with the recipe's settings). The top is the one the
    frozen pass cut, made of the classifier's own base (``recipe_head`` builds it on that base)."""
    parts = _pooling_parts(model)
    if parts.base is not frozen.parts.base or frozen.parts.blocks != recipe.blocks:
        raise CourseError(
            f"recipe_fine_tune trains the top {recipe.blocks} blocks cut by recipe_activations, on "
            "the classifier recipe_head built on that base; for another model or cut, use "
            "fast_fine_tune"
        )
    settings = _TopTraining(
        recipe.blocks, recipe.fine_tune_learning_rate, recipe.fine_tune_epochs, patience,
        batch_size, recipe.crop, recipe.label_smoothing, recipe.seed,
    )  # fmt: skip
    return _train_top(
        model, parts, frozen.parts.top, frozen.train, frozen.validation, settings,
        history=history, verbose=verbose, backup_dir=backup_dir, callbacks=callbacks,
    )  # fmt: skip
