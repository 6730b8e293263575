"""Figures that put a wrong way next to the right way (notebook 05's pitfalls, and any
experiment that compares variants): bars for single outcomes, curves for what happens epoch by
epoch, and one overview of many pitfalls. A variant measured over several seeds is drawn as its
mean with every seed's value beside it, so a reader sees the spread before trusting a gap."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tl_helpers.data.decode import load_image
from tl_helpers.errors import CourseError
from tl_helpers.pitfalls.data import PitfallSummary
from tl_helpers.plots.figures import PhotoGrid

__all__ = ["outcome_bars", "outcome_curves", "photo_at_size", "pitfall_overview"]

WRONG, RIGHT, OTHER = "tab:red", "tab:green", "tab:grey"

Outcome = float | Sequence[float]


def _runs(value: Outcome) -> np.ndarray:
    """One value, or one per seed, as a 1-D array (never empty)."""
    runs = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if runs.ndim != 1 or runs.size == 0:
        raise CourseError(f"expected a number or a list of numbers (one per seed), got {value!r}")
    return runs


def _colour(name: str, right: Collection[str], wrong: Collection[str] | None) -> str:
    if name in right:
        return RIGHT
    return WRONG if wrong is None or name in wrong else OTHER


def _names(chosen: str | Collection[str], known: Collection[str], what: str) -> set[str]:
    names = {chosen} if isinstance(chosen, str) else set(chosen)
    unknown = names - set(known)
    if unknown:
        raise CourseError(f"{what} names {sorted(unknown)}, which are not among {sorted(known)}")
    return names


def outcome_bars(
    values: Mapping[str, Outcome],
    *,
    right: str | Collection[str],
    xlabel: str,
    title: str | None = None,
    percent: bool = True,
    wrong: Collection[str] | None = None,
) -> Figure:
    """One horizontal bar per variant: green for the ``right`` ones, red for the others (or only
    for ``wrong``, grey for the rest). A variant with several values (one per seed) shows their
    mean as the bar, each value as a dot and the range as a line; the label gives the mean and,
    with several seeds, the range."""
    if not values:
        raise CourseError("outcome_bars needs at least one variant")
    right_names = _names(right, values, "right")
    scale = 100.0 if percent else 1.0
    figure = Figure(figsize=(7.5, 0.55 * len(values) + 1.3), layout="constrained")
    axis = figure.subplots()
    rows = list(range(len(values)))
    for row, (name, value) in zip(rows, values.items()):
        runs = _runs(value) * scale
        axis.barh(row, runs.mean(), color=_colour(name, right_names, wrong), alpha=0.75)
        text = f" {runs.mean():.3g}{'%' if percent else ''}"
        if runs.size > 1:
            axis.plot([runs.min(), runs.max()], [row, row], color="black", lw=1)
            axis.scatter(runs, np.full(runs.size, row), color="black", s=12, zorder=3)
            text += f" (range {runs.min():.3g}-{runs.max():.3g})"
        axis.text(max(runs.max(), runs.mean()), row, text, va="center", fontsize=8)
    axis.set_yticks(rows, list(values))
    axis.invert_yaxis()
    largest = max(_runs(v).max() for v in values.values()) * scale
    axis.set_xlim(min(0.0, *(_runs(v).min() * scale for v in values.values())), 1.45 * largest)
    axis.set_xlabel(xlabel + (" (%)" if percent else ""))
    axis.grid(axis="x", alpha=0.3)
    if title:
        axis.set_title(title, fontsize=10)
    return figure


def outcome_curves(
    curves: Mapping[str, Sequence[float] | Sequence[Sequence[float]]],
    *,
    right: str | Collection[str],
    ylabel: str = "validation accuracy",
    xlabel: str = "epoch (0 = before training)",
    title: str | None = None,
    percent: bool = True,
    references: Mapping[str, float] | None = None,
) -> Figure:
    """One line per variant against the epoch, green for the ``right`` ones and red for the
    others. A variant given as several curves (one per seed) is drawn as their mean, with the
    range between the lowest and highest seed shaded. ``references`` adds dashed horizontal lines
    (for example the accuracy of the frozen base)."""
    if not curves:
        raise CourseError("outcome_curves needs at least one variant")
    right_names = _names(right, curves, "right")
    scale = 100.0 if percent else 1.0
    figure = Figure(figsize=(7, 3.8), layout="constrained")
    axis = figure.subplots()
    for name, curve in curves.items():
        runs = np.atleast_2d(np.asarray(curve, dtype=np.float64)) * scale
        epochs = np.arange(runs.shape[1])
        colour = _colour(name, right_names, None)
        seeds = f" (mean of {runs.shape[0]} seeds)" if runs.shape[0] > 1 else ""
        axis.plot(epochs, runs.mean(axis=0), marker="o", ms=4, color=colour, label=name + seeds)
        if runs.shape[0] > 1:
            axis.fill_between(epochs, runs.min(axis=0), runs.max(axis=0), color=colour, alpha=0.15)
    for name, level in (references or {}).items():
        axis.axhline(level * scale, color="black", linestyle="--", lw=1, label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel + (" (%)" if percent else ""))
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title, fontsize=10)
    return figure


def pitfall_overview(summary: PitfallSummary, cols: int = 4) -> Figure:
    """Every measured pitfall in one figure: a small panel each, the wrong way's value in red
    next to the right way's in green, in that pitfall's own unit (so compare within a panel,
    not across panels). Rows added without numbers are left out."""
    rows = summary.numeric_rows()
    if not rows:
        raise CourseError(
            "the summary has no numeric results yet: add them with values=(wrong, right)"
        )
    count_rows = int(np.ceil(len(rows) / cols))
    figure = Figure(figsize=(3.1 * cols, 1.7 * count_rows + 0.3), layout="constrained")
    axes = np.atleast_1d(figure.subplots(count_rows, cols)).ravel()
    for axis in axes[len(rows) :]:
        axis.axis("off")
    for axis, (pitfall, unit, wrong_value, right_value) in zip(axes, rows):
        axis.barh([0, 1], [wrong_value, right_value], color=[WRONG, RIGHT], alpha=0.75)
        for row, value in enumerate((wrong_value, right_value)):
            axis.text(value, row, f" {value:.3g}", va="center", fontsize=7)
        axis.set_yticks([0, 1], ["wrong", "right"], fontsize=7)
        axis.invert_yaxis()
        axis.set_xlim(
            min(0.0, wrong_value, right_value), 1.4 * max(wrong_value, right_value, 1e-12)
        )
        axis.set_title(pitfall, fontsize=8)
        axis.set_xlabel(unit, fontsize=7)
        axis.tick_params(axis="x", labelsize=6)
    return figure


def photo_at_size(path: Path, image_size: tuple[int, int]) -> Figure:
    """A photo as stored, next to what a model at ``image_size`` receives (decoded and resized
    by the course's one image path), each titled with its size in pixels."""
    original = load_image(path)
    resized = load_image(path, image_size)
    figure = PhotoGrid(figsize=(7, 3.6), layout="constrained")
    for axis, image, label in zip(
        figure.subplots(1, 2), (original, resized), ("as stored", "as the model sees it")
    ):
        axis.imshow(image.astype(np.uint8))
        axis.set_title(f"{label}: {image.shape[1]} x {image.shape[0]} px", fontsize=9)
        axis.axis("off")
    figure.suptitle(Path(path).name, fontsize=9)
    return figure
