"""Train a classifier on any folder of ``class_name/image`` files: what ``python -m tl_helpers
train`` runs, and what notebook 06 does step by step.

The recipe is notebook 04's: the frozen bottom of the base runs once over the training images and
their mirror images (cached activations), a head trains on the pooled features, and, if asked,
the top blocks are fine-tuned on the cached activations. Without fine-tuning the cut is placed
before the last block only, so the same code path serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from tl_helpers.backbones import DEFAULT_BACKBONE, build_backbone
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.folders import folder_splits
from tl_helpers.data.splits import DatasetSplits
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_image_size
from tl_helpers.training.activations import extract_activations
from tl_helpers.training.cutting import split_backbone
from tl_helpers.training.fast_fine_tuning import fast_fine_tune, pooled_features
from tl_helpers.training.recipes import TrainingHistory, classifier_from_head, train_head

__all__ = ["FolderTraining", "check_training_folder", "train_folder", "train_splits"]


@dataclass
class FolderTraining:
    """A trained image classifier, the splits it was trained and held out on, and its history."""

    model: keras.Model
    splits: DatasetSplits
    history: TrainingHistory


def check_training_folder(
    data_dir: str | Path, validation_fraction: float = 0.15, test_fraction: float = 0.0
) -> DatasetSplits:
    """Split a folder for training, or say clearly why it cannot be trained on."""
    if (
        not 0.0 < validation_fraction < 1.0
        or not 0.0 <= test_fraction < 1.0
        or validation_fraction + test_fraction >= 1.0
    ):
        raise CourseError(
            f"impossible split fractions: validation {validation_fraction}, test {test_fraction}; "
            "each must be between 0 and 1 and together leave images to train on"
        )
    splits = folder_splits(
        Path(data_dir), validation_fraction=validation_fraction, test_fraction=test_fraction
    )
    counts = splits.counts()
    empty = [name for name in splits.class_names if counts["train"][name] == 0]
    if empty:
        raise CourseError(
            f"{data_dir}: no training images left for {', '.join(empty)}; add images to those class folders"
        )
    if len(splits.validation) == 0:
        raise CourseError(
            f"{data_dir}: too few images to carve a validation set; add more images per class"
        )
    return splits


def train_folder(
    data_dir: str | Path,
    *,
    backbone: str = DEFAULT_BACKBONE,
    image_size: int = 224,
    epochs: int = 50,
    blocks: int = 0,
    fine_tune_epochs: int = 5,
    fine_tune_learning_rate: float = 1e-4,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.0,
    seed: int = DEFAULT_SEED,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    backup_dir: str | Path | None = None,
) -> FolderTraining:
    """Check and split ``data_dir``, then ``train_splits``: a head on cached features, optionally
    the top ``blocks`` blocks of the base fine-tuned; returns the complete image classifier.

    The defaults are the quickest recipe (``config.TRAIN_FAST``); ``python -m tl_helpers train``
    runs ``config.TRAIN_DEFAULT``, chosen on validation, unless given ``--fast``."""
    splits = check_training_folder(data_dir, validation_fraction, test_fraction)
    return train_splits(
        splits,
        backbone=backbone,
        image_size=image_size,
        epochs=epochs,
        blocks=blocks,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_learning_rate=fine_tune_learning_rate,
        seed=seed,
        verbose=verbose,
        strategy=strategy,
        backup_dir=backup_dir,
    )


def train_splits(
    splits: DatasetSplits,
    *,
    backbone: str = DEFAULT_BACKBONE,
    image_size: int = 224,
    epochs: int = 50,
    blocks: int = 0,
    fine_tune_epochs: int = 5,
    fine_tune_learning_rate: float = 1e-4,
    seed: int = DEFAULT_SEED,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    backup_dir: str | Path | None = None,
) -> FolderTraining:
    """The course's recipe on splits already made (a folder's, or a catalogued dataset's): the
    frozen bottom runs once over the training photos and their mirror images, a head trains on
    the pooled features, and with ``blocks`` the top blocks are fine-tuned on the stored
    activations. The test split is never read.

    With a ``strategy`` (``distribution_strategy``), the frozen pass is split across its devices
    and workers and the fine-tuning runs under it; the head trains on one device (seconds).
    ``backup_dir`` lets a killed fine-tuning resume from its last finished epoch."""
    if epochs < 1 or fine_tune_epochs < 1:
        raise CourseError(
            f"epochs must be at least 1, got epochs={epochs}, fine_tune_epochs={fine_tune_epochs}"
        )
    if blocks < 0:
        raise CourseError(f"blocks (how many blocks to fine-tune) cannot be negative, got {blocks}")
    check_image_size(image_size)
    parts = split_backbone(build_backbone(backbone, (image_size, image_size)), max(blocks, 1))
    train = extract_activations(parts, splits.train, verbose=False, strategy=strategy)
    validation = extract_activations(
        parts, splits.validation, flips=False, verbose=False, strategy=strategy
    )
    if verbose:
        source = (
            "read from the cache"
            if train.from_cache and validation.from_cache
            else f"computed in {train.seconds + validation.seconds:.0f} s"
        )
        print(
            f"frozen bottom of {backbone} over {len(train)} training photos (and their mirror images) "
            f"and {len(validation)} validation photos: {source}"
        )
    head, history = train_head(
        pooled_features(parts.top, train, mirrored=True),
        pooled_features(parts.top, validation),
        len(splits.class_names),
        epochs=epochs,
        seed=seed,
        verbose=verbose,
    )
    # Built in the strategy's scope: its variables then live on every replica for fine-tuning.
    with (strategy or tf.distribute.get_strategy()).scope():
        model = classifier_from_head(head, backbone, splits.class_names, image_size)
    if blocks:
        history = fast_fine_tune(
            model,
            train,
            validation,
            blocks=blocks,
            epochs=fine_tune_epochs,
            learning_rate=fine_tune_learning_rate,
            history=history,
            seed=seed,
            verbose=verbose,
            backup_dir=backup_dir,
        )
    return FolderTraining(model, splits, history)
