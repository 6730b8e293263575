"""Measuring a deployed model: file size, single-photo latency, batch throughput, test accuracy
and agreement with the Keras model it came from, all in one run so the speeds are comparable.

Timings are medians of many calls after a warm-up (the first calls allocate memory and pick
kernels); compare them as ratios within one run, since absolute numbers move with the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tl_helpers.deploy.export import ExportedFile
from tl_helpers.deploy.runtimes import load_exported
from tl_helpers.evaluation import EvaluationReport, report_from_probabilities
from tl_helpers.models.predict import probabilities

__all__ = [
    "DeploymentMeasurement",
    "deployment_table",
    "measure_deployment",
    "measure_exports",
    "median_latency_ms",
    "photos_per_second",
]


def median_latency_ms(
    predict: Callable[[np.ndarray], object],
    photo: np.ndarray,
    runs: int = 50,
    warmup: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median milliseconds of ``predict(photo[None])`` over ``runs`` calls after ``warmup`` calls,
    read on ``clock`` (seconds; tests give one of their own)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    batch = np.ascontiguousarray(photo[None], dtype=np.float32)
    for _ in range(warmup):
        predict(batch)
    times = []
    for _ in range(runs):
        start = clock()
        predict(batch)
        times.append(clock() - start)
    return float(np.median(times) * 1000)


def photos_per_second(
    predict: Callable[[np.ndarray], object],
    images: np.ndarray,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Photos per second when ``predict`` gets all of ``images`` in one call (after one warm-up
    call on the first batch of 32 photos), read on ``clock``."""
    images = np.asarray(images, np.float32)
    predict(images[:32])
    start = clock()
    predict(images)
    return len(images) / (clock() - start)


@dataclass(frozen=True)
class DeploymentMeasurement:
    """One deployed form of a classifier, measured."""

    name: str
    size_bytes: int
    latency_ms: float  # one photo, every core
    latency_ms_one_thread: float | None  # None: the runtime's threads cannot be set per model
    photos_per_second: float
    report: EvaluationReport  # on the test split
    agreement: float  # share of test photos with the same top-1 class as the reference

    def row(self) -> dict[str, object]:
        low, high = self.report.interval
        return {
            "model": self.name,
            "MB": round(self.size_bytes / 1e6, 1),
            "ms/photo, 1 thread": None
            if self.latency_ms_one_thread is None
            else round(self.latency_ms_one_thread, 1),
            "ms/photo, all threads": round(self.latency_ms, 1),
            "photos/s, batch": round(self.photos_per_second, 1),
            "test accuracy": f"{self.report.accuracy:.1%} ({low:.1%}-{high:.1%})",
            "agrees with Keras": f"{self.agreement:.1%}",
        }


def measure_deployment(
    name: str,
    predict: Callable[[np.ndarray], np.ndarray],
    *,
    size_bytes: int,
    images: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    files: Sequence[Path],
    reference: np.ndarray,
    predict_one_thread: Callable[[np.ndarray], np.ndarray] | None = None,
    runs: int = 50,
    clock: Callable[[], float] = time.perf_counter,
) -> DeploymentMeasurement:
    """Measure ``predict`` (0-255 image batches in, ``(n, classes)`` probabilities out) on the
    test ``images``: accuracy and top-1 agreement with ``reference`` (the Keras model's
    probabilities for the same photos), latency on the first photo, and throughput (timed on
    ``clock``)."""
    probabilities = np.concatenate(
        [
            predict(np.asarray(images[start : start + 32], np.float32))
            for start in range(0, len(images), 32)
        ]
    )
    report = report_from_probabilities(probabilities, labels, class_names, files)
    agreement = float(np.mean(probabilities.argmax(1) == np.asarray(reference).argmax(1)))
    one_thread = (
        None
        if predict_one_thread is None
        else median_latency_ms(predict_one_thread, images[0], runs, clock=clock)
    )
    return DeploymentMeasurement(
        name,
        size_bytes,
        median_latency_ms(predict, images[0], runs, clock=clock),
        one_thread,
        photos_per_second(predict, images, clock=clock),
        report,
        agreement,
    )


def measure_exports(
    model,  # noqa: ANN001 - a Keras classifier
    keras_bytes: int,
    exports: Sequence[ExportedFile],
    *,
    images: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    files: Sequence[Path],
    runs: int = 50,
) -> list[DeploymentMeasurement]:
    """The Keras model (``keras_bytes``: its ``.keras`` file's size) and each of its ``exports``,
    measured on the same test ``images`` in one run; the Keras model's probabilities are the
    reference for agreement. Each runtime runs on all cores and, where it can be set, on one."""
    reference = probabilities(model, np.asarray(images, np.float32))
    common: dict[str, Any] = dict(
        images=images, labels=labels, class_names=class_names, files=files, reference=reference,
        runs=runs,
    )  # fmt: skip
    rows = [
        measure_deployment(
            "Keras .keras", lambda x: probabilities(model, x), size_bytes=keras_bytes, **common
        )
    ]
    for exported in exports:
        runner = load_exported(exported.path)
        one = None if exported.info.format == "saved_model" else load_exported(exported.path, 1)
        rows.append(
            measure_deployment(
                runner.format,
                runner.probabilities,
                size_bytes=exported.size_bytes,
                predict_one_thread=None if one is None else one.probabilities,
                **common,
            )
        )
    return rows


def deployment_table(measurements: Sequence[DeploymentMeasurement]) -> str:
    """The measurements as an aligned text table, one row each."""
    rows = [m.row() for m in measurements]
    columns = list(rows[0]) if rows else []
    cells = [[("-" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths))
        )
    ]
    for r in cells:
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))
            )
        )
    return "\n".join(lines)
