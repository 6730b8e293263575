"""Every plot returns a Figure with the expected content; Grad-CAM works on every backbone."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from tl_helpers import gradcam, pitfalls, plots
from tl_helpers.backbones import backbone_names
from tl_helpers.data.folders import folder_splits
from tl_helpers.errors import CourseError
from tl_helpers.evaluation import report_from_probabilities
from tl_helpers.models import augmentation_block, build_classifier, classifier_parts
from tl_helpers.training import TrainingHistory


def _titles(figure: Figure) -> list[str]:
    return [axis.get_title() for axis in figure.axes if axis.get_title()]


def test_sample_grid_labels_each_image(colour_folder):
    splits = folder_splits(colour_folder)
    figure = plots.sample_grid(
        splits.train.files, splits.train.labels, splits.class_names, n=6, cols=3
    )
    assert isinstance(figure, Figure)
    assert _titles(figure) == [splits.class_names[label] for label in splits.train.labels[:6]]
    assert sum(1 for axis in figure.axes if axis.images) == 6


def test_augmentation_grid_shows_different_variants(colour_folder):
    path = folder_splits(colour_folder).train.files[0]
    figure = plots.augmentation_grid(path, augmentation_block(), n=4, image_size=(48, 48), cols=4)
    arrays = [axis.images[0].get_array() for axis in figure.axes if axis.images]
    assert len(arrays) == 4 and _titles(figure)[0] == "original"
    assert any(not np.array_equal(arrays[0], other) for other in arrays[1:])


def test_learning_curves_mark_fine_tuning():
    history = TrainingHistory().extend(
        {
            "loss": [1.0, 0.5],
            "val_loss": [1.1, 0.6],
            "accuracy": [0.5, 0.8],
            "val_accuracy": [0.5, 0.7],
        }
    )
    history.extend(
        {"loss": [0.3], "val_loss": [0.4], "accuracy": [0.9], "val_accuracy": [0.85]},
        fine_tuning=True,
    )
    figure = plots.learning_curves(history)
    loss_axis = figure.axes[0]
    assert len(loss_axis.lines) == 3, "training, validation and the fine-tuning marker"
    assert loss_axis.lines[2].get_xdata()[0] == pytest.approx(2.5)
    assert list(loss_axis.lines[0].get_ydata()) == [1.0, 0.5, 0.3]


def test_confusion_matrix_and_mistake_gallery(colour_folder):
    splits = folder_splits(colour_folder)
    files = splits.validation.files[:3]
    report = report_from_probabilities(
        np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]]),
        [0, 1, 2],
        splits.class_names,
        files,
    )
    figure = plots.confusion_matrix(report)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == ["1", "0", "0", "0", "1", "0", "1", "0", "0"]
    gallery = plots.confident_mistakes(report)
    assert len(_titles(gallery)) == 1 and "said" in _titles(gallery)[0]


@pytest.mark.parametrize("backbone", backbone_names())
def test_gradcam_for_every_backbone(backbone):
    model = build_classifier(backbone, 3, image_size=64, weights=None)
    image = np.random.default_rng(0).uniform(0, 255, (64, 64, 3)).astype(np.float32)
    heatmap = gradcam.gradcam(model, image, class_index=1)
    assert heatmap.shape == (64, 64)
    assert heatmap.min() >= 0 and heatmap.max() <= 1.0 + 1e-6
    assert gradcam.overlay(image, heatmap).shape == (64, 64, 3)


def test_gradcam_finds_the_object_in_a_real_photo(mirror):
    """Grad-CAM on a real photo with real ImageNet weights: a head copied from ImageNet's own cat and dog
    classes gives class-specific, non-flat maps."""
    from tl_helpers.backbones import efficientnet_lite as lite
    from tl_helpers.data.decode import load_image

    imagenet = lite.efficientnet_lite0(include_top=True)
    model = build_classifier("efficientnet_lite0", 3, image_size=224)
    kernel, bias = imagenet.get_layer("predictions").get_weights()
    chosen = [281, 282, 151]  # tabby, tiger cat, Chihuahua
    classifier_parts(model).head.layers[-1].set_weights([kernel[:, chosen], bias[chosen]])
    photo = load_image(
        mirror / "cats_and_dogs_filtered" / "validation" / "cats" / "cat.2000.jpg", (224, 224)
    )
    cat_map = gradcam.gradcam(model, photo, class_index=0)
    dog_map = gradcam.gradcam(model, photo, class_index=2)
    assert cat_map.max() > 0.9 and cat_map.std() > 0.05, "a real, non-flat map"
    assert np.corrcoef(cat_map.ravel(), dog_map.ravel())[0, 1] < 0.9, (
        "different classes, different evidence"
    )


def test_gradcam_grid_and_pca(colour_folder):
    splits = folder_splits(colour_folder)
    model = build_classifier(
        "efficientnet_lite0", 3, class_names=splits.class_names, image_size=48, weights=None
    )
    figure = plots.gradcam_grid(model, splits.validation.files[:2])
    assert len(_titles(figure)) == 2
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 10)
    features = rng.normal(0, 0.1, (30, 20)) + np.eye(3, 20)[labels] * 5
    pca = plots.feature_pca(features, labels, ["x", "y", "z"])
    assert len(pca.axes[0].collections) == 3 and "variance" in pca.axes[0].get_xlabel()


def _bar_widths(figure: Figure) -> list[float]:
    return [patch.get_width() for patch in figure.axes[0].patches]


def test_outcome_bars_draw_the_mean_of_the_seeds_and_colour_right_and_wrong():
    figure = plots.outcome_bars(
        {"BatchNorm unfrozen": [0.80, 0.78, 0.76], "BatchNorm frozen": 0.83},
        right="BatchNorm frozen",
        xlabel="validation accuracy",
    )
    axis = figure.axes[0]
    assert _bar_widths(figure) == pytest.approx([78.0, 83.0]), (
        "the bar is the mean of the seeds, in %"
    )
    colours = [patch.get_facecolor()[:3] for patch in axis.patches]
    assert colours[0][0] > colours[0][1] and colours[1][1] > colours[1][0], "wrong red, right green"
    dots = axis.collections[0].get_offsets()
    assert sorted(np.asarray(dots)[:, 0]) == pytest.approx([76.0, 78.0, 80.0]), (
        "every seed is shown"
    )
    assert [t.get_text() for t in axis.get_yticklabels()] == [
        "BatchNorm unfrozen",
        "BatchNorm frozen",
    ]
    assert "range 76-80" in " ".join(text.get_text() for text in axis.texts)
    raw = plots.outcome_bars({"a": 0.5, "b": 0.05}, right="b", xlabel="loss", percent=False)
    assert _bar_widths(raw) == pytest.approx([0.5, 0.05]) and raw.axes[0].get_xlabel() == "loss"


def test_outcome_bars_and_curves_refuse_unknown_right_names_and_empty_input():
    with pytest.raises(CourseError, match="not among"):
        plots.outcome_bars({"a": 1.0}, right="b", xlabel="x")
    with pytest.raises(CourseError, match="at least one"):
        plots.outcome_curves({}, right="a")
    with pytest.raises(CourseError, match="one per seed"):
        plots.outcome_bars({"a": []}, right="a", xlabel="x")


def test_outcome_curves_average_seeds_and_shade_their_range():
    figure = plots.outcome_curves(
        {"converged head": [0.8, 0.82, 0.84], "random head": [[0.1, 0.5, 0.7], [0.3, 0.7, 0.8]]},
        right="converged head",
        references={"frozen base": 0.75},
    )
    axis = figure.axes[0]
    lines = {line.get_label(): line for line in axis.lines}
    assert list(lines["random head (mean of 2 seeds)"].get_ydata()) == pytest.approx([20, 60, 75])
    assert list(lines["converged head"].get_xdata()) == [0, 1, 2], "epoch 0 is before training"
    assert lines["frozen base"].get_ydata()[0] == pytest.approx(75)
    assert len(axis.collections) == 1, "only the variant with several seeds has a shaded range"


def test_pitfall_overview_has_a_panel_per_numeric_row():
    summary = pitfalls.PitfallSummary()
    summary.add(
        "1 scaling", "validation accuracy", "20%", "77%", values=(20.7, 76.7), unit="accuracy (%)"
    )
    summary.add("2 text only", "something", "a", "b")
    summary.add("3 loss", "training loss", "0.52", "0.05", values=(0.518, 0.05))
    figure = plots.pitfall_overview(summary, cols=2)
    panels = [axis for axis in figure.axes if axis.patches]
    assert [axis.get_title() for axis in panels] == ["1 scaling", "3 loss"]
    assert [p.get_width() for p in panels[0].patches] == pytest.approx([20.7, 76.7])
    assert panels[1].get_xlabel() == "training loss", "the unit defaults to what was measured"
    assert summary.numeric_rows()[0] == ("1 scaling", "accuracy (%)", 20.7, 76.7)
    summary.add("1 scaling", "validation accuracy", "x", "y")  # replaced without numbers
    assert [row[0] for row in summary.numeric_rows()] == ["3 loss"]
    with pytest.raises(CourseError, match="finite"):
        summary.add("4", "m", "a", "b", values=(float("nan"), 1.0))
    with pytest.raises(CourseError, match="no numeric results"):
        plots.pitfall_overview(pitfalls.PitfallSummary())


def test_photo_at_size_shows_the_stored_photo_and_what_the_model_receives(colour_folder):
    path = folder_splits(colour_folder).train.files[0]
    figure = plots.photo_at_size(path, (24, 32))
    assert isinstance(figure, plots.PhotoGrid)
    shapes = [axis.images[0].get_array().shape[:2] for axis in figure.axes if axis.images]
    assert shapes == [(48, 48), (24, 32)]
    assert _titles(figure) == ["as stored: 48 x 48 px", "as the model sees it: 32 x 24 px"]
