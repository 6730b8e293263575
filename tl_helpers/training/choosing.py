"""Choosing a backbone and an image size on validation: measure each candidate, keep the ones
nothing beats on both accuracy and speed (the Pareto front), and pick by a rule stated in advance.

A candidate is one (backbone, image size) pair trained by feature extraction (``feature_extraction``:
cached features, a head on top). Four numbers describe it: validation accuracy, the frozen pass's
time per image on this machine, its parameter count and the size of its saved ``.keras`` file.
The test split is never read here; the notebook evaluates the chosen candidate on it once.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tl_helpers.data.decode import load_image
from tl_helpers.data.splits import DatasetSplits, Split
from tl_helpers.errors import CourseError
from tl_helpers.models import probabilities, save_classifier
from tl_helpers.training.features import pooled_backbone
from tl_helpers.training.recipes import FeatureExtractionResult, feature_extraction

__all__ = [
    "Candidate",
    "candidates_table",
    "choose_candidate",
    "frozen_pass_ms",
    "measure_candidate",
    "pareto_front",
]


@dataclass(frozen=True)
class Candidate:
    """One backbone at one image size, trained by feature extraction and scored on validation."""

    backbone: str
    image_size: int
    validation_correct: int
    validation_total: int
    ms_per_image: float  # the frozen pass on this machine (decoding excluded)
    parameters: int  # the whole image classifier: base and head
    keras_bytes: int  # its saved .keras file

    @property
    def validation_accuracy(self) -> float:
        return self.validation_correct / self.validation_total

    @property
    def label(self) -> str:
        return f"{self.backbone.removeprefix('efficientnet_')} {self.image_size}px"

    def to_dict(self) -> dict:
        return {**asdict(self), "validation_accuracy": self.validation_accuracy}


def frozen_pass_ms(
    backbone: str, image_size: int, split: Split, *, images: int = 64, repeats: int = 5
) -> float:
    """Milliseconds per image for the frozen base (and pooling) on this machine, batches of 32.

    The first ``images`` photos are decoded first, so only the network is timed; one warm-up
    pass builds the graph, and the fastest of ``repeats`` timed passes is kept (the others are slowed by
    whatever else the machine was doing). Compare candidates timed in the same session."""
    if len(split) == 0:
        raise CourseError("frozen_pass_ms needs a split with at least one photo to time")
    if images < 1 or repeats < 1:
        raise CourseError(f"images and repeats must be at least 1, got {images} and {repeats}")
    size = (image_size, image_size)
    photos = np.stack([load_image(path, size) for path in split.files[:images]])
    batches = [tf.constant(photos[i : i + 32]) for i in range(0, len(photos), 32)]
    model = pooled_backbone(backbone, size)
    # A compiled call per batch: Keras's predict() adds set-up time that varies from call to call.
    forward = tf.function(lambda batch: model(batch, training=False))
    for batch in batches:  # warm-up: traces once per batch shape
        forward(batch)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            forward(batch).numpy()
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / len(photos)


def measure_candidate(
    splits: DatasetSplits,
    backbone: str,
    image_size: int,
    *,
    timed_images: int = 64,
    timing_repeats: int = 5,
    ms_per_image: float | None = None,
) -> tuple[Candidate, FeatureExtractionResult]:
    """Train one candidate by feature extraction (features cached as usual) and measure it; its
    time per image is ``frozen_pass_ms`` over ``timed_images`` validation photos (fewer and fewer
    repeats keep a slow backbone's timing short, at some cost in precision), or ``ms_per_image``
    when this backbone and size were timed already: the pass costs the same whatever the photos
    show, so one timing serves every dataset."""
    result = feature_extraction(splits, backbone=backbone, image_size=image_size, verbose=False)
    predicted = probabilities(result.head, result.validation.features).argmax(axis=1)
    labels = result.validation.labels
    model = result.classifier()
    with tempfile.TemporaryDirectory() as folder:
        keras_bytes = save_classifier(model, Path(folder) / "candidate.keras").stat().st_size
    candidate = Candidate(
        backbone=backbone,
        image_size=image_size,
        validation_correct=int(np.sum(predicted == labels)),
        validation_total=len(labels),
        ms_per_image=ms_per_image
        if ms_per_image is not None
        else frozen_pass_ms(
            backbone, image_size, splits.validation, images=timed_images, repeats=timing_repeats
        ),
        parameters=int(model.count_params()),
        keras_bytes=keras_bytes,
    )
    return candidate, result


def pareto_front(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates no other one beats on both counts: none is at least as accurate *and* at
    least as fast while strictly better on one of them. Fastest first."""
    front = [
        mine
        for mine in candidates
        if not any(
            other.validation_correct >= mine.validation_correct
            and other.ms_per_image <= mine.ms_per_image
            and (
                other.validation_correct > mine.validation_correct
                or other.ms_per_image < mine.ms_per_image
            )
            for other in candidates
        )
    ]
    return sorted(front, key=lambda c: c.ms_per_image)


def choose_candidate(candidates: Sequence[Candidate], tolerance_photos: int = 1) -> Candidate:
    """The rule, fixed before looking: the fastest candidate whose validation accuracy is within
    ``tolerance_photos`` validation photos of the best one (a difference of one photo is noise,
    a faster model is a real gain)."""
    if not candidates:
        raise CourseError("choose_candidate needs at least one candidate")
    totals = {c.validation_total for c in candidates}
    if len(totals) != 1:
        raise CourseError(
            f"candidates were scored on different validation sets (sizes {sorted(totals)}); "
            "compare them on the same photos"
        )
    best = max(c.validation_correct for c in candidates)
    close = [c for c in candidates if c.validation_correct >= best - tolerance_photos]
    return min(close, key=lambda c: c.ms_per_image)


def candidates_table(candidates: Sequence[Candidate], chosen: Candidate | None = None) -> str:
    """A plain-text table, most accurate first; ``*`` marks the Pareto front, ``<`` the choice."""
    front = set(pareto_front(candidates))
    lines = [
        f"{'candidate':<16}{'validation':>18}{'ms/image':>10}{'params':>9}{'.keras':>9}",
    ]
    for c in sorted(candidates, key=lambda c: (-c.validation_correct, c.ms_per_image)):
        marks = ("*" if c in front else " ") + ("<" if c == chosen else " ")
        lines.append(
            f"{c.label:<16}{c.validation_accuracy:>8.1%} ({c.validation_correct:>4}/{c.validation_total})"
            f"{c.ms_per_image:>10.1f}{c.parameters / 1e6:>8.2f}M{c.keras_bytes / 2**20:>7.1f}MB {marks}"
        )
    lines.append("* on the Pareto front (nothing is both more accurate and faster)   < chosen")
    return "\n".join(lines)
