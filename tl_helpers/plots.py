"""Figures for the notebooks. Each function returns a matplotlib ``Figure`` and never blocks:
figures are built without pyplot, so nothing stays open behind your back and a script can
save them with ``figure.savefig(path)``. In a notebook, a returned figure is shown inline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from tl_helpers.data.images import load_image
from tl_helpers.evaluate import EvaluationReport
from tl_helpers.models.build import find_backbone, is_binary
from tl_helpers.training.recipes import TrainingHistory


def _show_figures_inline() -> None:
    """Let notebooks display the ``Figure`` objects these functions return.

    pyplot registers this when it is imported; these figures are made without pyplot (so they
    never pile up in its global state), so we register the formatters ourselves: PNG for plots,
    JPEG for grids of photos (ten times smaller, and photos were JPEGs to begin with).
    """
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, lambda f: None if _is_photo(f) else print_figure(f, "png", bbox_inches="tight"))
    formatters["image/jpeg"].for_type(Figure, lambda f: print_figure(f, "jpeg", bbox_inches="tight", dpi=80) if _is_photo(f) else None)


def _is_photo(figure: Figure) -> bool:
    return bool(getattr(figure, "_tl_photos", False))


_show_figures_inline()


def _grid(count: int, cols: int, cell: float = 2.2) -> tuple[Figure, np.ndarray]:
    rows = max(1, int(np.ceil(count / cols)))
    figure = Figure(figsize=(cell * cols, cell * rows + 0.4), layout="constrained")
    figure._tl_photos = True  # shown as JPEG in notebooks
    axes = np.atleast_1d(figure.subplots(rows, cols)).ravel()
    for axis in axes:
        axis.axis("off")
    return figure, axes


def sample_grid(files: Sequence[Path], labels: Sequence[int], class_names: Sequence[str], n: int = 12, cols: int = 6,
                title: str | None = None) -> Figure:
    """The first ``n`` images with their class names."""
    count = min(n, len(files))
    figure, axes = _grid(count, cols)
    for axis, path, label in zip(axes, files[:count], labels[:count]):
        axis.imshow(load_image(path).astype(np.uint8))
        axis.set_title(class_names[label], fontsize=9)
    if title:
        figure.suptitle(title)
    return figure


def augmentation_grid(image_path: Path, augmentation: keras.Layer, n: int = 8, image_size: tuple[int, int] = (224, 224),
                      cols: int = 4) -> Figure:
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
            axis.plot(epochs, history.history[f"val_{metric}"], marker="o", ms=3, label=f"validation {metric}")
        if history.fine_tune_start is not None:
            axis.axvline(history.fine_tune_start + 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
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
        axis.text(col, row, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
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
        axis.set_title(f"{mistake.file.name}\ntrue {mistake.true_class}, said {mistake.predicted_class} {mistake.confidence:.0%}", fontsize=8)
    return figure


def gradcam(model: keras.Model, image: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM heatmap (0-1, image-sized) of where ``model`` looked to score ``class_index``.

    The gradient of the class score (before the final sigmoid/softmax, so confident predictions
    still have useful gradients) with respect to the backbone's last feature map weights each
    channel; their weighted sum, rectified, is the map. Works for any backbone in the registry.
    """
    base = find_backbone(model)
    head_layers = model.layers[model.layers.index(base) + 1 :]
    final_dense = next(layer for layer in reversed(head_layers) if isinstance(layer, keras.layers.Dense))
    batch = tf.convert_to_tensor(np.asarray(image, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        feature_map = base(batch, training=False)
        tape.watch(feature_map)
        x = feature_map
        for layer in head_layers:
            if layer is final_dense:
                break
            x = layer(x, training=False)
        logits = tf.matmul(x, final_dense.kernel) + final_dense.bias
        if is_binary(model):
            chosen = int(logits[0, 0] > 0) if class_index is None else class_index
            score = logits[:, 0] if chosen == 1 else -logits[:, 0]
        else:
            chosen = int(tf.argmax(logits[0])) if class_index is None else class_index
            score = logits[:, chosen]
    gradients = tape.gradient(score, feature_map)
    channel_weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(feature_map * channel_weights, axis=-1))[0]
    cam = cam / (tf.reduce_max(cam) + 1e-8)
    resized = tf.image.resize(cam[..., None], tf.shape(batch)[1:3])[..., 0]
    return resized.numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with the heatmap blended on top (jet colours), as uint8 RGB."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heatmap)[..., :3] * 255.0
    return np.clip((1 - alpha) * image + alpha * colours, 0, 255).astype(np.uint8)


def gradcam_grid(model: keras.Model, files: Sequence[Path], class_names: Sequence[str] | None = None, cols: int = 4) -> Figure:
    """Grad-CAM of the predicted class over each image in ``files``."""
    from tl_helpers.models.build import class_names_of
    from tl_helpers.models.saving import probabilities

    names = list(class_names or class_names_of(model))
    size = tuple(int(d) for d in model.input_shape[1:3])
    figure, axes = _grid(len(files), cols, cell=2.6)
    for axis, path in zip(axes, files):
        image = load_image(path, size)
        probs = probabilities(model, image[None])[0]
        predicted = int(probs.argmax())
        axis.imshow(overlay(image, gradcam(model, image, predicted)))
        axis.set_title(f"{Path(path).name}\n{names[predicted]} {probs[predicted]:.0%}", fontsize=8)
    return figure


def feature_pca(features: np.ndarray, labels: Sequence[int], class_names: Sequence[str], title: str | None = None) -> Figure:
    """The pooled features projected on their two main directions (PCA), coloured by class.

    If the classes already separate here, a linear head on these features will do well.
    """
    centred = np.asarray(features, dtype=np.float64) - np.mean(features, axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    explained = singular[:2] ** 2 / np.sum(singular**2)
    figure = Figure(figsize=(6, 5), layout="constrained")
    axis = figure.subplots()
    labels = np.asarray(labels)
    for index, name in enumerate(class_names):
        chosen = labels == index
        axis.scatter(projected[chosen, 0], projected[chosen, 1], s=8, alpha=0.6, label=name)
    axis.set_xlabel(f"component 1 ({explained[0]:.0%} of variance)")
    axis.set_ylabel(f"component 2 ({explained[1]:.0%} of variance)")
    axis.legend(markerscale=2)
    axis.set_title(title or "pooled features, PCA")
    return figure
