"""Figures of data, training and evaluation (see the package docstring for how they are shown)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from matplotlib.figure import Figure

from tl_helpers.data.decode import load_image
from tl_helpers.deploy.measure import DeploymentMeasurement
from tl_helpers.evaluation import EvaluationReport
from tl_helpers.gradcam import gradcam, overlay
from tl_helpers.models import class_names_of, input_size, probabilities
from tl_helpers.training.budget import AccuracyOverTime
from tl_helpers.training.choosing import Candidate, pareto_front
from tl_helpers.training.recipes import TrainingHistory

__all__ = [
    "PhotoGrid",
    "accuracy_over_time",
    "augmentation_grid",
    "confident_mistakes",
    "confusion_matrix",
    "deployment_plot",
    "feature_pca",
    "gradcam_grid",
    "learning_curves",
    "pareto_plot",
    "sample_grid",
    "show_figures_inline",
]


class PhotoGrid(Figure):
    """A figure of photos: shown as JPEG in notebooks (ten times smaller than PNG, and the
    photos were JPEGs to begin with); every other figure is shown as PNG."""


def show_figures_inline() -> bool:
    """Let IPython display the ``Figure`` objects these functions return (``setup_notebook``
    calls it). pyplot registers this when it is imported; these figures are made without pyplot
    (so they never pile up in its global state), so the formatters are registered here: PNG for
    plots, JPEG for ``PhotoGrid``. Returns False outside IPython, where there is nothing to do."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters  # pyright: ignore[reportAttributeAccessIssue]
    formatters["image/png"].for_type(Figure, lambda f: print_figure(f, "png", bbox_inches="tight"))
    formatters["image/png"].for_type(PhotoGrid, lambda f: None)
    formatters["image/jpeg"].for_type(
        PhotoGrid, lambda f: print_figure(f, "jpeg", bbox_inches="tight", dpi=80)
    )
    return True


def _grid(count: int, cols: int, cell: float = 2.2) -> tuple[Figure, np.ndarray]:
    rows = max(1, int(np.ceil(count / cols)))
    figure = PhotoGrid(figsize=(cell * cols, cell * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, cols)).ravel()
    for axis in axes:
        axis.axis("off")
    return figure, axes


def sample_grid(
    files: Sequence[Path],
    labels: Sequence[int],
    class_names: Sequence[str],
    n: int = 12,
    cols: int = 6,
    title: str | None = None,
) -> Figure:
    """The first ``n`` images with their class names."""
    count = min(n, len(files))
    figure, axes = _grid(count, cols)
    for axis, path, label in zip(axes, files[:count], labels[:count]):
        axis.imshow(load_image(path).astype(np.uint8))
        axis.set_title(class_names[label], fontsize=9)
    if title:
        figure.suptitle(title)
    return figure


def augmentation_grid(
    image_path: Path,
    augmentation: keras.Layer,
    n: int = 8,
    image_size: tuple[int, int] = (224, 224),
    cols: int = 4,
) -> Figure:
    """One image as the model sees it in ``n`` training steps: the original, then random variants."""
    image = load_image(image_path, image_size)
    figure, axes = _grid(n, cols)
    axes[0].imshow(image.astype(np.uint8))
    axes[0].set_title("original", fontsize=9)
    for i, axis in enumerate(axes[1:n], start=1):
        variant = np.asarray(augmentation(image[None], training=True))[0]
        axis.imshow(np.clip(variant, 0, 255).astype(np.uint8))
        axis.set_title(f"training step {i}", fontsize=9)
    return figure


def learning_curves(history: TrainingHistory, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, training vs validation, with a line where fine-tuning starts."""
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    axes = figure.subplots(1, 2)
    epochs = np.arange(1, history.epochs + 1)
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, history.history[metric], marker="o", ms=3, label=f"training {metric}")
        if f"val_{metric}" in history.history:
            axis.plot(
                epochs,
                history.history[f"val_{metric}"],
                marker="o",
                ms=3,
                label=f"validation {metric}",
            )
        if history.fine_tune_start is not None:
            axis.axvline(
                history.fine_tune_start + 0.5,
                color="grey",
                linestyle="--",
                label="fine-tuning starts",
            )
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def pareto_plot(
    panels: dict[str, Sequence[Candidate]], chosen: dict[str, Candidate] | None = None
) -> Figure:
    """One panel per dataset: validation accuracy against the frozen pass's time per image for
    every candidate, the Pareto front joined by a line, the chosen one ringed."""
    figure = Figure(figsize=(5.2 * len(panels), 4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    for axis, (title, candidates) in zip(axes, panels.items()):
        for backbone in sorted({c.backbone for c in candidates}):
            mine = [c for c in candidates if c.backbone == backbone]
            axis.scatter(
                [c.ms_per_image for c in mine],
                [100 * c.validation_accuracy for c in mine],
                label=backbone.removeprefix("efficientnet_"),
                zorder=3,
            )
            for c in mine:
                axis.annotate(
                    f"{c.image_size}",
                    (c.ms_per_image, 100 * c.validation_accuracy),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
        front = pareto_front(candidates)
        axis.step(
            [c.ms_per_image for c in front],
            [100 * c.validation_accuracy for c in front],
            where="post",
            color="grey",
            linestyle="--",
            label="Pareto front",
        )
        if chosen and title in chosen:
            pick = chosen[title]
            axis.scatter(
                [pick.ms_per_image],
                [100 * pick.validation_accuracy],
                s=240,
                facecolors="none",
                edgecolors="black",
                label="chosen",
                zorder=4,
            )
        axis.set_xlabel("frozen pass, ms per image on this CPU")
        axis.set_ylabel("validation accuracy (%)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return figure


def accuracy_over_time(curves: Sequence[AccuracyOverTime]) -> Figure:
    """Validation accuracy against seconds since the photos were first read, one line per
    recipe, with the shared time budget as a vertical line."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    axis = figure.subplots()
    for curve in curves:
        (line,) = axis.plot(
            curve.seconds,
            [100 * a for a in curve.validation_accuracy],
            marker="o",
            ms=3,
            label=curve.name,
        )
        if curve.start_s:
            axis.axvspan(0, curve.start_s, color=line.get_color(), alpha=0.12)
    budgets = {curve.budget_s for curve in curves}
    for budget in budgets:
        axis.axvline(budget, color="black", linestyle="--", label=f"budget: {budget:.0f} s")
    axis.set_xlabel("seconds on this CPU (shaded: the frozen base's pass over the photos)")
    axis.set_ylabel("validation accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure


def confusion_matrix(report: EvaluationReport, title: str | None = None) -> Figure:
    """Counts of true (rows) against predicted (columns) classes."""
    matrix = report.confusion
    size = len(report.class_names)
    figure = Figure(figsize=(1.1 * size + 2.5, 1.1 * size + 1.5), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_xticks(range(size), report.class_names, rotation=45, ha="right")
    axis.set_yticks(range(size), report.class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, col), value in np.ndenumerate(matrix):
        axis.text(
            col,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
        )
    axis.set_title(title or f"accuracy {report.accuracy:.1%} on {matrix.sum()} images")
    return figure


def confident_mistakes(report: EvaluationReport, n: int = 8, cols: int = 4) -> Figure:
    """The images the model got wrong with the most confidence."""
    mistakes = report.mistakes[:n]
    figure, axes = _grid(max(1, len(mistakes)), cols, cell=2.6)
    if not mistakes:
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    for axis, mistake in zip(axes, mistakes):
        axis.imshow(load_image(mistake.file).astype(np.uint8))
        axis.set_title(
            f"{mistake.file.name}\ntrue {mistake.true_class}, said {mistake.predicted_class} {mistake.confidence:.0%}",
            fontsize=8,
        )
    return figure


def gradcam_grid(
    model: keras.Model,
    files: Sequence[Path],
    class_names: Sequence[str] | None = None,
    cols: int = 4,
) -> Figure:
    """Grad-CAM of the predicted class over each image in ``files``."""
    names = list(class_names or class_names_of(model))
    size = input_size(model)
    figure, axes = _grid(len(files), cols, cell=2.6)
    for axis, path in zip(axes, files):
        image = load_image(path, size)
        probs = probabilities(model, image[None])[0]
        predicted = int(probs.argmax())
        axis.imshow(overlay(image, gradcam(model, image, predicted)))
        axis.set_title(f"{Path(path).name}\n{names[predicted]} {probs[predicted]:.0%}", fontsize=8)
    return figure


def feature_pca(
    features: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    title: str | None = None,
) -> Figure:
    """The pooled features projected on their two main directions (PCA), coloured by class.

    If the classes already separate here, a linear head on these features will do well.
    """
    centred = np.asarray(features, dtype=np.float64) - np.mean(features, axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    explained = singular[:2] ** 2 / np.sum(singular**2)
    figure = Figure(figsize=(6, 5), layout="constrained")
    axis = figure.subplots()
    label_array = np.asarray(labels)
    for index, name in enumerate(class_names):
        chosen = label_array == index
        axis.scatter(projected[chosen, 0], projected[chosen, 1], s=8, alpha=0.6, label=name)
    axis.set_xlabel(f"component 1 ({explained[0]:.0%} of variance)")
    axis.set_ylabel(f"component 2 ({explained[1]:.0%} of variance)")
    axis.legend(markerscale=2)
    axis.set_title(title or "pooled features, PCA")
    return figure


def deployment_plot(measurements: Sequence[DeploymentMeasurement]) -> Figure:
    """File size and single-photo latency of each deployed form, side by side, each bar labelled
    with its test accuracy and its agreement with the Keras model."""
    names = [m.name for m in measurements]
    rows = np.arange(len(names))
    figure = Figure(figsize=(10, 0.45 * len(names) + 1.6), layout="constrained")
    size_axis, speed_axis = figure.subplots(1, 2, sharey=True)
    size_axis.barh(rows, [m.size_bytes / 1e6 for m in measurements], color="tab:blue")
    size_axis.set_xlabel("file size (MB)")
    one = [m.latency_ms_one_thread for m in measurements]
    speed_axis.barh(rows - 0.2, [m.latency_ms for m in measurements], 0.4, label="all threads")
    speed_axis.barh(
        rows + 0.2,
        [0 if t is None else t for t in one],
        0.4,
        label="one thread",
        color="tab:orange",
    )
    speed_axis.set_xlabel("ms per photo on this CPU (median)")
    speed_axis.legend(fontsize=8, loc="lower right")
    for row, m in zip(rows, measurements):
        size_axis.text(
            m.size_bytes / 1e6, row, f" {m.report.accuracy:.1%}, agrees {m.agreement:.1%}",
            va="center", fontsize=8,
        )  # fmt: skip
    size_axis.set_yticks(rows, names)
    size_axis.invert_yaxis()
    size_axis.set_xlim(0, 1.9 * max(m.size_bytes / 1e6 for m in measurements))
    for axis in (size_axis, speed_axis):
        axis.grid(axis="x", alpha=0.3)
    size_axis.set_title("size, with test accuracy and agreement", fontsize=10)
    speed_axis.set_title("speed", fontsize=10)
    return figure
