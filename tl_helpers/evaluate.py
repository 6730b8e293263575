"""Evaluation from one pass over the data: accuracy, per-class precision and recall, confusion
matrix, top-k accuracy and the list of misclassified files with their probabilities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.models.build import class_names_of, class_probabilities


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
    def confusion(self) -> np.ndarray:
        """``confusion[true, predicted]`` counts."""
        size = len(self.class_names)
        matrix = np.zeros((size, size), dtype=np.int64)
        np.add.at(matrix, (self.labels, self.predictions), 1)
        return matrix

    @property
    def recall(self) -> dict[str, float]:
        matrix = self.confusion
        return {name: float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else float("nan") for i, name in enumerate(self.class_names)}

    @property
    def precision(self) -> dict[str, float]:
        matrix = self.confusion
        return {name: float(matrix[i, i] / matrix[:, i].sum()) if matrix[:, i].sum() else float("nan") for i, name in enumerate(self.class_names)}

    def top_k_accuracy(self, k: int) -> float:
        """Share of images whose true class is among the ``k`` most probable."""
        top = np.argsort(-self.probabilities, axis=1)[:, :k]
        return float(np.mean(np.any(top == self.labels[:, None], axis=1)))

    @property
    def mistakes(self) -> list[Mistake]:
        """Misclassified files, most confidently wrong first."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        found = [
            Mistake(Path(self.files[i]), self.class_names[self.labels[i]], self.class_names[self.predictions[i]],
                    float(self.probabilities[i].max()), tuple(float(p) for p in self.probabilities[i]))
            for i in wrong
        ]
        return sorted(found, key=lambda m: -m.confidence)

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(self.class_names)}

    def to_dict(self) -> dict:
        """Plain numbers for JSON: accuracy, per-class precision/recall, counts, confusion."""
        summary = {
            "accuracy": self.accuracy,
            "images": int(len(self.labels)),
            "errors": int(np.sum(self.predictions != self.labels)),
            "per_class_recall": self.recall,
            "per_class_precision": self.precision,
            "counts": self.counts(),
            "confusion_matrix": self.confusion.tolist(),
        }
        if len(self.class_names) > 2:
            summary["top_2_accuracy"] = self.top_k_accuracy(2)
        return summary

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """A small text table: per-class precision, recall and count."""
        lines = [f"accuracy {self.accuracy:.4f} on {len(self.labels)} images ({int(np.sum(self.predictions != self.labels))} wrong)",
                 f"{'class':<14}{'precision':>10}{'recall':>10}{'images':>8}"]
        counts = self.counts()
        for name in self.class_names:
            lines.append(f"{name:<14}{self.precision[name]:>10.3f}{self.recall[name]:>10.3f}{counts[name]:>8}")
        return "\n".join(lines)


def report_from_probabilities(probabilities: np.ndarray, labels: Sequence[int], class_names: Sequence[str],
                              files: Sequence[Path]) -> EvaluationReport:
    """Build a report from probabilities computed elsewhere (a head on cached features, say)."""
    probabilities = class_probabilities(np.asarray(probabilities, dtype=np.float64))
    if probabilities.shape != (len(labels), len(class_names)):
        raise CourseError(f"probabilities have shape {probabilities.shape}, expected ({len(labels)}, {len(class_names)})")
    return EvaluationReport(tuple(class_names), tuple(Path(f) for f in files), np.asarray(labels, dtype=np.int64), probabilities)


def evaluate(model: keras.Model, split: Split, class_names: Sequence[str] | None = None, *, batch_size: int = 32) -> EvaluationReport:
    """Run ``model`` once over ``split`` and measure everything from that single pass."""
    class_names = tuple(class_names or class_names_of(model))
    outputs = model.output_shape[-1]
    if outputs != (1 if len(class_names) == 2 else len(class_names)):
        raise CourseError(
            f"the model predicts {max(outputs, 2)} classes but the data has {len(class_names)} ({', '.join(class_names)}); "
            "evaluate it on a folder with the classes it was trained on"
        )
    image_size = tuple(int(d) for d in model.input_shape[1:3])
    images = make_dataset(split, image_size=image_size, batch_size=batch_size, cache=False).map(lambda x, _y: x)
    return report_from_probabilities(model.predict(images, verbose=0), split.labels, class_names, split.files)
