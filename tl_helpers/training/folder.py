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

from tl_helpers.backbones import build_backbone, get_backbone_spec
from tl_helpers.data.folders import folder_splits
from tl_helpers.data.splits import DatasetSplits
from tl_helpers.errors import CourseError
from tl_helpers.recipe import TRAIN_FAST, VALIDATION_FRACTION, TrainRecipe
from tl_helpers.training.activations import (
    RecipeActivations,
    extract_activations,
    pooled_features,
)
from tl_helpers.training.cutting import split_backbone
from tl_helpers.training.fast_fine_tuning import recipe_fine_tune
from tl_helpers.training.recipes import TrainingHistory, recipe_head

__all__ = [
    "FolderTraining",
    "check_training_folder",
    "recipe_activations",
    "train_folder",
    "train_splits",
]


@dataclass
class FolderTraining:
    """A trained image classifier, the splits it was trained and held out on, and its history."""

    model: keras.Model
    splits: DatasetSplits
    history: TrainingHistory


def check_training_folder(
    data_dir: str | Path,
    validation_fraction: float = VALIDATION_FRACTION,
    test_fraction: float = 0.0,
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
    recipe: TrainRecipe = TRAIN_FAST,
    *,
    validation_fraction: float = VALIDATION_FRACTION,
    test_fraction: float = 0.0,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    backup_dir: str | Path | None = None,
) -> FolderTraining:
    """Check and split ``data_dir``, then ``train_splits`` with ``recipe``: a head on cached
    features, and with ``recipe.blocks`` the top blocks of the base fine-tuned; returns the
    complete image classifier.

    The default is the quickest recipe (``TRAIN_FAST``); ``python -m tl_helpers train`` runs
    ``TRAIN_DEFAULT``, chosen on validation, unless given ``--fast``."""
    splits = check_training_folder(data_dir, validation_fraction, test_fraction)
    return train_splits(splits, recipe, verbose=verbose, strategy=strategy, backup_dir=backup_dir)


def train_splits(
    splits: DatasetSplits,
    recipe: TrainRecipe = TRAIN_FAST,
    *,
    verbose: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    backup_dir: str | Path | None = None,
) -> FolderTraining:
    """The course's recipe on splits already made (a folder's, or a catalogued dataset's): the
    frozen bottom runs once over the training photos and their mirror images, a head trains on
    the pooled features, and with ``recipe.blocks`` the top blocks are fine-tuned on the stored
    activations. The test split is never read.

    With a ``strategy`` (``distribution_strategy``), the frozen pass is split across its devices
    and workers and the fine-tuning runs under it; the head trains on one device (seconds).
    ``backup_dir`` lets a killed fine-tuning resume from its last finished epoch."""
    frozen = recipe_activations(splits, recipe, strategy=strategy, verbose=verbose)
    model, history = recipe_head(frozen, recipe, splits.class_names, verbose=verbose)
    if recipe.blocks:
        history = recipe_fine_tune(
            model, frozen, recipe, history, verbose=verbose, backup_dir=backup_dir
        )
    return FolderTraining(model, splits, history)


def recipe_activations(
    splits: DatasetSplits,
    recipe: TrainRecipe,
    *,
    strategy: tf.distribute.Strategy | None = None,
    verbose: bool = True,
) -> RecipeActivations:
    """The recipe's first step: cut the base before its top ``max(recipe.blocks, 1)`` blocks, run
    (or read from the cache) the frozen bottom over the training and validation photos, and pool
    what the top makes of them: the features the head trains on (``recipe_head``). The base is
    built in the strategy's scope; the classifier (``recipe_head``) is built on it."""
    size = recipe.image_size or get_backbone_spec(recipe.backbone).default_size
    # One base serves the whole recipe: the pass runs its bottom, the classifier is built on it
    # and fine-tuning trains its top. Built in the strategy's scope, so that it can train there.
    with (strategy or tf.distribute.get_strategy()).scope():
        base = build_backbone(recipe.backbone, (size, size))
    parts = split_backbone(base, max(recipe.blocks, 1))
    passes = {"verbose": False, "strategy": strategy}
    train = extract_activations(parts, splits.train, flips=recipe.mirrored, **passes)
    validation = extract_activations(parts, splits.validation, flips=False, **passes)
    if verbose:
        source = (
            "read from the cache"
            if train.from_cache and validation.from_cache
            else f"computed in {train.seconds + validation.seconds:.0f} s"
        )
        mirrors = " (and their mirror images)" if recipe.mirrored else ""
        print(
            f"frozen bottom of {recipe.backbone} over {len(train)} training photos{mirrors} "
            f"and {len(validation)} validation photos: {source}"
        )
    train_features = pooled_features(parts.top, train, mirrored=recipe.mirrored)
    validation_features = pooled_features(parts.top, validation)
    return RecipeActivations(
        parts, train, validation, train_features, validation_features, size, strategy
    )
