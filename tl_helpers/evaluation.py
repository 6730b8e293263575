"""Evaluation from one pass over the data: accuracy with its 95 % interval, per-class precision
and recall, confusion matrix, top-k accuracy, the misclassified files with their probabilities,
and a paired test for two models scored on the same images."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.models import class_names_of, input_size, probabilities
from tl_helpers.models.predict import ExportedModel

__all__ = [
    "EvaluationReport",
    "Mistake",
    "PairedComparison",
    "accuracy_interval",
    "evaluate",
    "mcnemar_exact",
    "prediction_entry",
    "report_from_probabilities",
]


def accuracy_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for an accuracy of ``correct`` out of ``total``: the range of true
    accuracies compatible with what was measured. Unlike "accuracy +- 2 standard errors" it
    stays inside 0-1 and behaves at 100 % (500 of 500 right still leaves room below)."""
    if total < 1 or not 0 <= correct <= total:
        raise CourseError(
            f"an accuracy needs 0 <= correct <= total and total >= 1, got {correct} of {total}"
        )
    if not 0.0 < confidence < 1.0:
        raise CourseError(f"confidence must be between 0 and 1, got {confidence}")
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    share = correct / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = (
        z
        / (1 + z * z / total)
        * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    )
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PairedComparison:
    """Two models on the same images: the images only one of them got right, and the exact
    McNemar p-value, the chance of a split at least this lopsided if both were equally good."""

    only_first_right: int
    only_second_right: int
    p_value: float

    def __str__(self) -> str:
        verdict = (
            "more than noise (p < 0.05)" if self.p_value < 0.05 else "within noise (p >= 0.05)"
        )
        return (
            f"{self.only_first_right} images only the first model got right, {self.only_second_right} only the second: "
            f"exact McNemar p = {self.p_value:.3f}, {verdict}"
        )


def mcnemar_exact(
    first_correct: Sequence[bool] | np.ndarray, second_correct: Sequence[bool] | np.ndarray
) -> PairedComparison:
    """Exact McNemar test on per-image correctness of two models scored on the same images.

    Only the images where the two disagree carry information; if the models were equally good,
    each such image would be won by either with probability 1/2 (a binomial test, two-sided)."""
    first, second = np.asarray(first_correct, dtype=bool), np.asarray(second_correct, dtype=bool)
    if first.shape != second.shape:
        raise CourseError(
            f"the two models were scored on different numbers of images ({first.size} and {second.size})"
        )
    only_first, only_second = int(np.sum(first & ~second)), int(np.sum(second & ~first))
    disagreements = only_first + only_second
    tail = (
        sum(math.comb(disagreements, k) for k in range(min(only_first, only_second) + 1))
        / 2.0**disagreements
    )
    return PairedComparison(only_first, only_second, min(1.0, 2 * tail))


def prediction_entry(
    file: str | Path, class_names: Sequence[str], probabilities: Sequence[float]
) -> dict:
    """``{"file", "predicted", "probabilities": {class: p}}`` for one image: the per-file record
    that ``predict --json`` and ``evaluate --json`` both print."""
    row = np.asarray(probabilities, dtype=np.float64)
    return {
        "file": str(file),
        "predicted": class_names[int(row.argmax())],
        "probabilities": {name: float(p) for name, p in zip(class_names, row)},
    }


@dataclass(frozen=True)
class Mistake:
    """One misclassified image."""

    file: Path
    true_class: str
    predicted_class: str
    confidence: float  # probability given to the (wrong) predicted class
    probabilities: tuple[float, ...]


@dataclass
class EvaluationReport:
    """Everything measured on one split; ``probabilities`` rows line up with ``files``."""

    class_names: tuple[str, ...]
    files: tuple[Path, ...]
    labels: np.ndarray
    probabilities: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels))

    @property
    def correct(self) -> np.ndarray:
        """Per image: was the most probable class the true one?"""
        return self.predictions == self.labels

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy (see ``accuracy_interval``)."""
        return accuracy_interval(int(self.correct.sum()), len(self.labels))

    def accuracy_text(self) -> str:
        """ "90.3 % (95 % interval 86.4-93.1 %; 29 of 300 wrong)": how the course prints a test accuracy."""
        low, high = self.interval
        return (
            f"{100 * self.accuracy:.1f} % (95 % interval {100 * low:.1f}-{100 * high:.1f} %; "
            f"{int(np.sum(~self.correct))} of {len(self.labels)} wrong)"
        )

    def compare(self, other: EvaluationReport) -> PairedComparison:
        """Paired test against another model's report on the same files (exact McNemar)."""
        if tuple(self.files) != tuple(other.files):
            raise CourseError(
                "the two reports were computed on different files; compare models on the same images"
            )
        return mcnemar_exact(self.correct, other.correct)

    @property
    def confusion(self) -> np.ndarray:
        """``confusion[true, predicted]`` counts."""
        size = len(self.class_names)
        matrix = np.zeros((size, size), dtype=np.int64)
        np.add.at(matrix, (self.labels, self.predictions), 1)
        return matrix

    @property
    def recall(self) -> dict[str, float]:
        matrix = self.confusion
        return {
            name: float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else float("nan")
            for i, name in enumerate(self.class_names)
        }

    @property
    def precision(self) -> dict[str, float]:
        matrix = self.confusion
        return {
            name: float(matrix[i, i] / matrix[:, i].sum()) if matrix[:, i].sum() else float("nan")
            for i, name in enumerate(self.class_names)
        }

    def top_k_accuracy(self, k: int) -> float:
        """Share of images whose true class is among the ``k`` most probable."""
        top = np.argsort(-self.probabilities, axis=1)[:, :k]
        return float(np.mean(np.any(top == self.labels[:, None], axis=1)))

    @property
    def mistakes(self) -> list[Mistake]:
        """Misclassified files, most confidently wrong first."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        found = [
            Mistake(
                Path(self.files[i]),
                self.class_names[self.labels[i]],
                self.class_names[self.predictions[i]],
                float(self.probabilities[i].max()),
                tuple(float(p) for p in self.probabilities[i]),
            )
            for i in wrong
        ]
        return sorted(found, key=lambda m: -m.confidence)

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(self.class_names)}

    def file_predictions(self) -> list[dict]:
        """One entry per image: file, true class, predicted class and every class's probability
        (what ``predict --json`` prints for the same files)."""
        return [
            {**prediction_entry(path, self.class_names, row), "true": self.class_names[int(label)]}
            for path, label, row in zip(self.files, self.labels, self.probabilities)
        ]

    def to_dict(self, predictions: bool = False) -> dict:
        """Plain numbers for JSON: accuracy and its 95 % interval, per-class precision/recall,
        counts, confusion; with ``predictions=True`` also every file's probabilities."""
        summary = {
            "accuracy": self.accuracy,
            "accuracy_95_interval": list(self.interval),
            "images": int(len(self.labels)),
            "errors": int(np.sum(self.predictions != self.labels)),
            "per_class_recall": self.recall,
            "per_class_precision": self.precision,
            "counts": self.counts(),
            "confusion_matrix": self.confusion.tolist(),
        }
        if len(self.class_names) > 2:
            summary["top_2_accuracy"] = self.top_k_accuracy(2)
        if predictions:
            summary["predictions"] = self.file_predictions()
        return summary

    def to_json(self, predictions: bool = False) -> str:
        return json.dumps(self.to_dict(predictions), indent=2)

    def table(self) -> str:
        """A small text table: per-class precision, recall and count."""
        low, high = self.interval
        lines = [
            f"accuracy {self.accuracy:.4f} (95 % interval {low:.3f}-{high:.3f}) on {len(self.labels)} images "
            f"({int(np.sum(self.predictions != self.labels))} wrong)",
            f"{'class':<14}{'precision':>10}{'recall':>10}{'images':>8}",
        ]
        counts = self.counts()
        for name in self.class_names:
            lines.append(
                f"{name:<14}{self.precision[name]:>10.3f}{self.recall[name]:>10.3f}{counts[name]:>8}"
            )
        return "\n".join(lines)


def report_from_probabilities(
    probabilities: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    files: Sequence[Path],
) -> EvaluationReport:
    """Build a report from probabilities computed elsewhere, one column per class (what
    ``probabilities(head, features.features)`` gives for a head on cached features, say)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(labels), len(class_names)):
        hint = (
            " (a one-sigmoid model's raw output: get one column per class with probabilities(model, inputs))"
            if probabilities.ndim == 2 and probabilities.shape[1] == 1
            else ""
        )
        raise CourseError(
            f"probabilities have shape {probabilities.shape}, expected ({len(labels)}, {len(class_names)}){hint}"
        )
    return EvaluationReport(
        tuple(class_names),
        tuple(Path(f) for f in files),
        np.asarray(labels, dtype=np.int64),
        probabilities,
    )


def evaluate(
    model: keras.Model | ExportedModel,
    split: Split,
    class_names: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    tta: bool = False,
) -> EvaluationReport:
    """Run ``model`` once over ``split`` and measure everything from that single pass (with
    ``tta``, two passes: each photo and its mirror image, probabilities averaged). ``model`` may
    be an exported model (``load_exported``), run by its own runtime."""
    exported = isinstance(model, ExportedModel)
    class_names = tuple(class_names or (model.class_names if exported else class_names_of(model)))
    outputs = len(model.class_names) if exported else model.output_shape[-1]
    if outputs not in ((1, 2) if len(class_names) == 2 else (len(class_names),)):
        raise CourseError(
            f"the model predicts {max(outputs, 2)} classes but the data has {len(class_names)} ({', '.join(class_names)}); "
            "evaluate it on a folder with the classes it was trained on"
        )
    image_size = input_size(model)
    images = make_dataset(split, image_size=image_size, batch_size=batch_size, cache=False).map(
        lambda x, _y: x
    )
    return report_from_probabilities(
        probabilities(model, images, tta=tta), split.labels, class_names, split.files
    )
