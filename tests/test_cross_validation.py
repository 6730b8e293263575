"""k-fold cross-validation of heads on cached features: folds dealt by file name, mirror images
kept with their photo, and the one-standard-error choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tl_helpers.errors import CourseError
from tl_helpers.training import (
    CrossValidation,
    FeatureSet,
    choose_within_one_standard_error,
    cross_validate_head,
    fold_of_each_photo,
)

CLASSES = 3


def _features(per_class: int, dims: int, *, separable: bool, seed: int, prefix: str = "p"):
    """Made-up pooled features: class means far apart (separable) or pure noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), per_class).astype(np.int32)
    values = rng.normal(size=(len(labels), dims)).astype(np.float32)
    if separable:
        values[np.arange(len(labels)), labels] += 6.0
    files = tuple(
        Path(f"/photos/{label}/{prefix}{row:04d}.jpg") for row, label in enumerate(labels)
    )
    return FeatureSet(values, labels, files)


def _mirrored(features: FeatureSet, rename: bool = False) -> FeatureSet:
    """What ``pooled_features(mirrored=True)`` gives: every row again, here identical. With
    ``rename`` the copies pretend to be other photos (the leak the folds must prevent)."""
    files = features.files
    copies = tuple(p.with_name("mirror-" + p.name) for p in files) if rename else files
    return FeatureSet(
        np.concatenate([features.features, features.features]),
        np.tile(features.labels, 2),
        files + copies,
    )


def test_folds_are_stratified_fixed_by_name_and_keep_mirror_images_together():
    features = _mirrored(_features(11, 4, separable=True, seed=0))
    fold = fold_of_each_photo(features.files, features.labels, 5)
    assert len(fold) == 33, "one fold per distinct photo, mirror rows included"
    for label in range(CLASSES):
        sizes = np.bincount([fold[p] for p in fold if p.parent.name == str(label)], minlength=5)
        assert sizes.max() - sizes.min() <= 1, f"class {label} spread unevenly: {sizes}"
    backwards = fold_of_each_photo(features.files[::-1], features.labels[::-1], 5)
    assert backwards == fold, "the listing order must not change the folds"
    with pytest.raises(CourseError, match="fewer than the 5 folds"):
        fold_of_each_photo(features.files[:4], features.labels[:4], 5)
    with pytest.raises(CourseError, match="folds must be at least 2"):
        fold_of_each_photo(features.files, features.labels, 1)


def test_separable_features_score_high_and_noise_scores_at_chance():
    train = _features(30, 16, separable=True, seed=1)
    validation = _features(10, 16, separable=True, seed=2, prefix="v")
    clear = cross_validate_head(
        train, validation, CLASSES, folds=4, epochs=40, learning_rate=0.05, label="clear"
    )
    assert clear.photos == 120 and len(clear.accuracies) == 4
    assert clear.mean > 0.9, clear.summary()
    noise = cross_validate_head(
        _features(30, 16, separable=False, seed=3),
        _features(10, 16, separable=False, seed=4, prefix="v"),
        CLASSES,
        folds=4,
        epochs=40,
        learning_rate=0.05,
    )
    assert noise.mean < 0.6, noise.summary()


def test_a_held_out_photo_is_never_seen_mirrored_in_training():
    # Pure noise in many dimensions: a head can only score above chance by having seen the very
    # photo it is scored on. Mirror rows kept with their photo: chance. The same rows passed off
    # as other photos: they leak, and the score jumps.
    train = _features(40, 256, separable=False, seed=5)
    validation = _features(10, 256, separable=False, seed=6, prefix="v")
    honest = cross_validate_head(_mirrored(train), validation, CLASSES, folds=5, epochs=40)
    leaky = cross_validate_head(
        _mirrored(train, rename=True), validation, CLASSES, folds=5, epochs=40
    )
    assert honest.photos == 150 and leaky.photos == 270
    assert honest.mean < 0.55, honest.summary()
    assert leaky.mean > honest.mean + 0.2, (honest.summary(), leaky.summary())


def test_paired_difference_and_the_one_standard_error_rule():
    simple = CrossValidation("simple", (0.90, 0.92, 0.91, 0.89, 0.93), 500)
    bigger = CrossValidation("bigger", (0.905, 0.925, 0.915, 0.895, 0.935), 500)
    much_better = CrossValidation("much better", (0.96, 0.97, 0.95, 0.96, 0.97), 500)
    gap, error = bigger.paired_difference(simple)
    assert gap == pytest.approx(0.005) and error == pytest.approx(0.0, abs=1e-12)
    assert simple.standard_error == pytest.approx(simple.spread / np.sqrt(5))
    assert choose_within_one_standard_error([simple, bigger]) is simple
    assert choose_within_one_standard_error([simple, much_better]) is much_better
    with pytest.raises(CourseError, match="same folds"):
        simple.paired_difference(CrossValidation("other", (0.9, 0.9), 500))
    with pytest.raises(CourseError, match="at least one"):
        choose_within_one_standard_error([])
    assert simple.summary() == "simple: 91.0% ± 1.6% over 5 folds"
