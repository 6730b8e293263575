"""Evaluation reports: metrics from probabilities, and one pass of a real model over a split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tl_helpers.data.folders import folder_splits
from tl_helpers.errors import CourseError
from tl_helpers.evaluate import evaluate, report_from_probabilities
from tl_helpers.models import build_classifier, probabilities
from tl_helpers.data.pipelines import make_dataset


def _report():
    # 3 classes; row i is image i. Labels and probabilities are chosen so every metric is easy to count by hand.
    labels = [0, 0, 0, 1, 1, 2]
    probs = np.array([
        [0.8, 0.1, 0.1],   # right
        [0.6, 0.3, 0.1],   # right
        [0.2, 0.7, 0.1],   # wrong: said 1 (70 %), 0 is second
        [0.1, 0.8, 0.1],   # right
        [0.05, 0.05, 0.9],  # wrong: said 2 (90 %), 1 is third
        [0.1, 0.1, 0.8],   # right
    ])
    files = [Path(f"img{i}.jpg") for i in range(6)]
    return report_from_probabilities(probs, labels, ["a", "b", "c"], files)


def test_metrics_from_one_set_of_probabilities():
    report = _report()
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report.recall == pytest.approx({"a": 2 / 3, "b": 1 / 2, "c": 1.0})
    assert report.precision == pytest.approx({"a": 1.0, "b": 1 / 2, "c": 1 / 2})
    assert report.top_k_accuracy(2) == pytest.approx(5 / 6)
    assert report.top_k_accuracy(3) == 1.0


def test_mistakes_are_listed_most_confident_first():
    mistakes = _report().mistakes
    assert [m.file.name for m in mistakes] == ["img4.jpg", "img2.jpg"]
    assert mistakes[0].true_class == "b" and mistakes[0].predicted_class == "c" and mistakes[0].confidence == pytest.approx(0.9)


def test_report_serialises_to_json_and_table():
    report = _report()
    data = json.loads(report.to_json())
    assert data["accuracy"] == pytest.approx(4 / 6) and data["errors"] == 2 and data["counts"] == {"a": 3, "b": 2, "c": 1}
    assert data["per_class_recall"]["c"] == 1.0 and "top_2_accuracy" in data
    assert "accuracy 0.6667 on 6 images (2 wrong)" in report.table()


def test_binary_probabilities_are_expanded():
    report = report_from_probabilities(np.array([[0.9], [0.2]]), [1, 1], ["cat", "dog"], ["x", "y"])
    assert report.probabilities.tolist() == [[pytest.approx(0.1), 0.9], [0.8, pytest.approx(0.2)]]
    assert report.accuracy == 0.5


def test_shape_mismatch_is_refused():
    with pytest.raises(CourseError, match="shape"):
        report_from_probabilities(np.ones((2, 3)), [0, 1], ["a", "b"], ["x", "y"])


def test_evaluate_runs_the_model_once_over_the_split(colour_folder, monkeypatch):
    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 3, class_names=splits.class_names, image_size=64, weights=None)
    calls = []
    original = model.predict
    monkeypatch.setattr(model, "predict", lambda *a, **k: calls.append(1) or original(*a, **k))
    report = evaluate(model, splits.validation)
    assert len(calls) == 1, "one pass over the data for every metric"
    assert report.files == splits.validation.files and report.class_names == splits.class_names
    images = np.concatenate([x.numpy() for x, _ in make_dataset(splits.validation, image_size=(64, 64))])
    np.testing.assert_allclose(report.probabilities, original(images, verbose=0), atol=1e-5)


def test_evaluate_refuses_a_class_count_mismatch(colour_folder):
    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 2, image_size=64, weights=None)
    with pytest.raises(CourseError, match="predicts 2 classes but the data has 3"):
        evaluate(model, splits.validation, splits.class_names)
