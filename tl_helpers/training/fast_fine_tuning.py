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
from tl_helpers.training.cutting import BackboneParts, split_backbone
from tl_helpers.training.recipes import TrainingHistory, set_seeds
from tl_helpers.training.strategy import distributed_data

__all__ = ["fast_fine_tune", "recipe_fine_tune"]


def _trainer(top: keras.Model, parts: ClassifierParts, channels: int) -> keras.Model:
    """A training model made of the classifier's own layer objects: the top blocks, then its
    pooling and head (BatchNorm stays in inference mode: ``unfreeze_top`` keeps it frozen)."""
    inputs = keras.Input(shape=(None, None, channels), name="activations")
    x = top(inputs, training=False)
    return keras.Model(inputs, parts.head(parts.pooling(x)), name="fast_fine_tuning")


def _checked_parts(
    model: keras.Model, train: ActivationSet, validation: ActivationSet, blocks: int
) -> tuple[ClassifierParts, BackboneParts]:
    """The classifier's parts, and its base cut before its top ``blocks``, where the activations
    must have been cut."""
    parts = classifier_parts(model)
    if not isinstance(parts.pooling, keras.layers.GlobalAveragePooling2D):
        raise CourseError(
            "fast_fine_tune needs a classifier with a global-average-pooling head "
            "(build_classifier(head='pooling'))"
        )
    cut_base = split_backbone(parts.base, blocks)
    if train.cut != cut_base.cut or validation.cut != cut_base.cut:
        raise CourseError(
            f"the activations were cut before {train.cut}, but blocks={blocks} cuts before "
            f"{cut_base.cut}: extract them with split_backbone(base, {blocks})"
        )
    return parts, cut_base


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
    check_at_least("epochs", epochs)
    parts, cut_base = _checked_parts(model, train, validation, blocks)
    set_seeds(seed)
    binary = is_binary(model)
    targets = {"num_classes": 2 if binary else int(model.output_shape[-1]), "binary": binary}
    unfrozen = unfreeze_top(model, blocks=blocks)
    # Under a strategy, the training model, its optimizer and metrics are built in its scope.
    with model.distribute_strategy.scope():
        trainer = _trainer(cut_base.top, parts, train.activations.shape[-1])
        _compile_trainer(trainer, binary, learning_rate, label_smoothing)
    height, width = train.activations.shape[1:3]
    if verbose:
        print(
            f"unfroze {len(unfrozen)} layers in the top {blocks} blocks; training them on cached "
            f"{height}x{width} activations with learning rate {learning_rate:g}"
        )
    # Shifts of more than a quarter of the map would cut away too much of a small map.
    augmented = {"batch_size": batch_size, "augment": True, "seed": seed}
    augmented["crop"] = min(crop, min(height, width) // 4)
    backup = [] if backup_dir is None else [backup_callback(backup_dir, model)]
    fitted = trainer.fit(
        distributed_data(activation_dataset(train, **targets, **augmented)),
        validation_data=distributed_data(activation_dataset(validation, **targets, batch_size=128)),
        epochs=epochs,
        callbacks=[*backup, *training_callbacks(patience, verbose, "fine-tune "), *callbacks],
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
    )
    # The classifier shares every trained layer; compiling it records the new trainable state.
    with model.distribute_strategy.scope():
        compile_classifier(model, learning_rate)
    return (history or TrainingHistory()).extend(fitted.history, fine_tuning=True)


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
    cached activations (``fast_fine_tune`` with the recipe's settings)."""
    return fast_fine_tune(
        model,
        frozen.train,
        frozen.validation,
        blocks=recipe.blocks,
        learning_rate=recipe.fine_tune_learning_rate,
        epochs=recipe.fine_tune_epochs,
        patience=patience,
        batch_size=batch_size,
        crop=recipe.crop,
        label_smoothing=recipe.label_smoothing,
        history=history,
        seed=recipe.seed,
        verbose=verbose,
        backup_dir=backup_dir,
        callbacks=callbacks,
    )
