"""Choices that are not noise: k-fold cross-validation of heads on cached features.

One validation split of a few hundred photos gives an accuracy whose 95 % interval is often wider
than the gaps between the candidates it is meant to separate, so a choice made on it is partly
chance. When candidates are cheap (a head on cached features trains in seconds), every labelled
photo outside the test split can serve as validation in turn: train and validation are pooled and
dealt into ``folds`` parts, each part is held out once while a head trains on the others, and a
candidate is scored by its mean over the folds, with their spread beside it.

The folds are dealt class by class in the order of a hash of the file names (``stable_order``), so
they are the same in every run and keep each class in proportion; the mirror images of a photo
(``pooled_features(..., mirrored=True)``) always fall in its own fold, so a held-out photo is never
seen mirrored in training. The held-out part also stops its head early, as the validation split
does in ``train_head``: the same small optimism for every candidate. The test split is never part
of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.splits import stable_order
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_at_least
from tl_helpers.models import probabilities
from tl_helpers.training.features import FeatureSet
from tl_helpers.training.recipes import train_head

__all__ = [
    "CrossValidation",
    "choose_within_one_standard_error",
    "cross_validate_head",
    "fold_of_each_photo",
]


@dataclass(frozen=True)
class CrossValidation:
    """One candidate's accuracy on each held-out fold (same folds for every candidate)."""

    label: str
    accuracies: tuple[float, ...]
    photos: int  # labelled photos over all folds (each held out once)

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def spread(self) -> float:
        """Standard deviation of the fold accuracies (0 for a single fold)."""
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0

    @property
    def standard_error(self) -> float:
        """How far the mean may be from the candidate's true accuracy (``spread / sqrt(k)``)."""
        return self.spread / math.sqrt(len(self.accuracies))

    def paired_difference(self, other: CrossValidation) -> tuple[float, float]:
        """Mean and standard error of ``self - other`` fold by fold: the folds are shared, so
        the difference is far less noisy than either accuracy alone."""
        if len(other.accuracies) != len(self.accuracies) or other.photos != self.photos:
            raise CourseError(
                f"{self.label} and {other.label} were not scored on the same folds; "
                "cross-validate both with the same features and folds"
            )
        gaps = np.subtract(self.accuracies, other.accuracies)
        error = float(np.std(gaps, ddof=1)) / math.sqrt(len(gaps)) if len(gaps) > 1 else 0.0
        return float(gaps.mean()), error

    def summary(self) -> str:
        return (
            f"{self.label}: {self.mean:.1%} ± {self.spread:.1%} over {len(self.accuracies)} folds"
        )


def fold_of_each_photo(files: Sequence[Path], labels: np.ndarray, folds: int) -> dict[Path, int]:
    """Each distinct photo's fold: dealt round the folds class by class, in ``stable_order``."""
    check_at_least("folds", folds, 2)
    first_label: dict[Path, int] = {}
    for path, label in zip(files, labels):
        first_label.setdefault(Path(path), int(label))
    fold: dict[Path, int] = {}
    for label in sorted(set(first_label.values())):
        members = stable_order([path for path, own in first_label.items() if own == label])
        if len(members) < folds:
            raise CourseError(
                f"class {label} has {len(members)} photos, fewer than the {folds} folds; "
                "use fewer folds or add photos of that class"
            )
        fold.update({path: place % folds for place, path in enumerate(members)})
    return fold


def _rows(features: FeatureSet, keep: np.ndarray) -> FeatureSet:
    files = tuple(path for path, kept in zip(features.files, keep) if kept)
    return FeatureSet(features.features[keep], features.labels[keep], files)


def cross_validate_head(
    train: FeatureSet,
    validation: FeatureSet,
    num_classes: int,
    *,
    label: str = "candidate",
    folds: int = 5,
    dropout: float = 0.2,
    learning_rate: float = 1e-3,
    epochs: int = 50,
    seed: int = DEFAULT_SEED,
) -> CrossValidation:
    """Train a head (``train_head``) ``folds`` times on train + validation pooled, each time
    holding one fold out, and score it on that fold's photos (each once, without mirrors)."""
    pooled = FeatureSet(
        np.concatenate([train.features, validation.features]),
        np.concatenate([train.labels, validation.labels]),
        train.files + validation.files,
    )
    fold = fold_of_each_photo(pooled.files, pooled.labels, folds)
    row_fold = np.array([fold[Path(path)] for path in pooled.files])
    first = np.zeros(len(pooled), dtype=bool)
    seen: set[Path] = set()
    for row, path in enumerate(pooled.files):
        first[row] = Path(path) not in seen
        seen.add(Path(path))
    accuracies = []
    for held_out in range(folds):
        scored = _rows(pooled, (row_fold == held_out) & first)
        head, _ = train_head(
            _rows(pooled, row_fold != held_out),
            scored,
            num_classes,
            dropout=dropout,
            learning_rate=learning_rate,
            epochs=epochs,
            seed=seed,
            verbose=False,
        )
        predicted = probabilities(head, scored.features).argmax(axis=1)
        accuracies.append(float(np.mean(predicted == scored.labels)))
    return CrossValidation(label, tuple(accuracies), int(first.sum()))


def choose_within_one_standard_error(
    simplest_first: Sequence[CrossValidation],
) -> CrossValidation:
    """The one-standard-error rule: the simplest candidate (the list's order, stated in advance)
    whose mean is within one standard error of the best mean. A gap smaller than that is what
    another dealing of the folds could reverse; a simpler model is a real gain."""
    if not simplest_first:
        raise CourseError("choose_within_one_standard_error needs at least one candidate")
    best = max(simplest_first, key=lambda result: result.mean)
    return next(c for c in simplest_first if c.mean >= best.mean - best.standard_error - 1e-12)
