"""Data for the pitfall experiments: small splits in memory, mistaken inputs (1), leaky splits
(7), frozen augmentation (8) and an imbalanced training set (10); and the summary table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.images import size_pair
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.training.features import FeatureSet

__all__ = [
    "SCALING_MISTAKES",
    "PitfallSummary",
    "drop_most_of_class",
    "first_per_class",
    "identical_across_passes",
    "image_arrays",
    "indices_seen",
    "mistaken_input",
    "shuffled_take_skip",
]


def image_arrays(split: Split, image_size: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All images of a (small) split in memory: ``(images float32 0-255, labels int32)``."""
    size = size_pair(image_size)
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
    values = np.asarray(labels)
    if count < 1:
        raise CourseError(f"count must be at least 1, got {count}")
    return np.sort(np.concatenate([np.flatnonzero(values == c)[:count] for c in np.unique(values)]))


@dataclass
class PitfallSummary:
    """Rows of (pitfall, what was measured, wrong, right), printed as one table at the end; with
    ``values`` a row also keeps its two numbers, for ``plots.pitfall_overview``."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    numbers: dict[str, tuple[str, float, float]] = field(default_factory=dict)

    def add(
        self,
        pitfall: str,
        measure: str,
        wrong: str,
        right: str,
        values: tuple[float, float] | None = None,
        unit: str | None = None,
    ) -> None:
        """Add (or replace) a pitfall's row. ``values``: the wrong and the right number, in
        ``unit`` (default: ``measure``)."""
        self.rows = [row for row in self.rows if row[0] != pitfall] + [
            (pitfall, measure, wrong, right)
        ]
        self.numbers.pop(pitfall, None)
        if values is not None:
            wrong_value, right_value = (float(v) for v in values)
            if not (np.isfinite(wrong_value) and np.isfinite(right_value)):
                raise CourseError(f"{pitfall}: the values must be finite numbers, got {values}")
            self.numbers[pitfall] = (unit or measure, wrong_value, right_value)

    def numeric_rows(self) -> list[tuple[str, str, float, float]]:
        """(pitfall, unit, wrong, right) for every row added with values, in table order."""
        return [(row[0], *self.numbers[row[0]]) for row in self.rows if row[0] in self.numbers]

    def table(self) -> str:
        header = ("pitfall", "measured", "wrong", "right")
        widths = [max(len(str(row[i])) for row in [header, *self.rows]) for i in range(4)]
        lines = [
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [header, *self.rows]
        ]
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
        raise CourseError(
            f"unknown scaling mistake {mistake!r}; choose one of {', '.join(SCALING_MISTAKES)}"
        )
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
# 7. Split leakage with shuffle + take/skip
# ----------------------------------------------------------------------------------------------


def shuffled_take_skip(
    count: int, test_size: int, *, reshuffle: bool, seed: int = DEFAULT_SEED
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The split many tutorials write: shuffle the indices ``0..count-1``, ``take`` a test set and
    ``skip`` it for training. ``reshuffle=True`` is ``tf.data``'s default, and the bug: every pass
    over either dataset draws a new order, so the test set changes each time it is read and
    overlaps the training data. ``reshuffle=False`` fixes the order once: the two never meet.
    Returns ``(train, test)`` datasets of indices."""
    if not 0 < test_size < count:
        raise CourseError(f"test_size must be between 1 and {count - 1}, got {test_size}")
    indices = tf.data.Dataset.range(count).shuffle(
        count, seed=seed, reshuffle_each_iteration=reshuffle
    )
    return indices.skip(test_size), indices.take(test_size)


def indices_seen(dataset: tf.data.Dataset, passes: int = 1) -> list[np.ndarray]:
    """The indices one pass over ``dataset`` yields, for each of ``passes`` passes (what training
    sees epoch by epoch, or what each evaluation reads)."""
    return [
        np.fromiter((int(i) for i in dataset.as_numpy_iterator()), dtype=np.int64)
        for _ in range(passes)
    ]


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
        raise CourseError(
            "the dataset must yield the same, non-zero number of elements on each pass"
        )
    return float(np.mean([np.array_equal(a, b) for a, b in zip(first, second)]))


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
