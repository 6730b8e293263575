"""Evaluation reports: metrics from probabilities, and one pass of a real model over a split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tl_helpers.data.folders import folder_splits
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.errors import CourseError
from tl_helpers.evaluation import evaluate, report_from_probabilities
from tl_helpers.models import build_classifier


def _report():
    # 3 classes; row i is image i. Labels and probabilities are chosen so every metric is easy to count by hand.
    labels = [0, 0, 0, 1, 1, 2]
    probs = np.array(
        [
            [0.8, 0.1, 0.1],  # right
            [0.6, 0.3, 0.1],  # right
            [0.2, 0.7, 0.1],  # wrong: said 1 (70 %), 0 is second
            [0.1, 0.8, 0.1],  # right
            [0.05, 0.05, 0.9],  # wrong: said 2 (90 %), 1 is third
            [0.1, 0.1, 0.8],  # right
        ]
    )
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
    assert (
        mistakes[0].true_class == "b"
        and mistakes[0].predicted_class == "c"
        and mistakes[0].confidence == pytest.approx(0.9)
    )


def test_report_serialises_to_json_and_table():
    report = _report()
    data = json.loads(report.to_json())
    assert (
        data["accuracy"] == pytest.approx(4 / 6)
        and data["errors"] == 2
        and data["counts"] == {"a": 3, "b": 2, "c": 1}
    )
    assert data["per_class_recall"]["c"] == 1.0 and "top_2_accuracy" in data
    assert (
        report.table().startswith("accuracy 0.6667 (95 % interval ")
        and "on 6 images (2 wrong)" in report.table()
    )


def test_a_raw_sigmoid_column_is_refused_with_the_one_way_to_get_probabilities():
    with pytest.raises(
        CourseError, match=r"one column per class with probabilities\(model, inputs\)"
    ):
        report_from_probabilities(np.array([[0.9], [0.2]]), [1, 1], ["cat", "dog"], ["x", "y"])
    report = report_from_probabilities(
        np.array([[0.1, 0.9], [0.8, 0.2]]), [1, 1], ["cat", "dog"], ["x", "y"]
    )
    assert report.accuracy == 0.5


def test_shape_mismatch_is_refused():
    with pytest.raises(CourseError, match="shape"):
        report_from_probabilities(np.ones((2, 3)), [0, 1], ["a", "b"], ["x", "y"])


def test_evaluate_runs_the_model_once_over_the_split(colour_folder, monkeypatch):
    splits = folder_splits(colour_folder)
    model = build_classifier(
        "efficientnet_lite0", 3, class_names=splits.class_names, image_size=64, weights=None
    )
    calls = []
    original = model.predict
    monkeypatch.setattr(model, "predict", lambda *a, **k: calls.append(1) or original(*a, **k))
    report = evaluate(model, splits.validation)
    assert len(calls) == 1, "one pass over the data for every metric"
    assert report.files == splits.validation.files and report.class_names == splits.class_names
    images = np.concatenate(
        [x.numpy() for x, _ in make_dataset(splits.validation, image_size=(64, 64))]
    )
    np.testing.assert_allclose(report.probabilities, original(images, verbose=0), atol=1e-5)


def test_evaluate_refuses_a_class_count_mismatch(colour_folder):
    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 2, image_size=64, weights=None)
    with pytest.raises(CourseError, match="predicts 2 classes but the data has 3"):
        evaluate(model, splits.validation, splits.class_names)


def test_accuracy_interval_matches_wilson_by_hand():
    from tl_helpers.evaluation import accuracy_interval

    # Textbook values: 5 of 10 gives 0.2366-0.7634; 0 of 10 still allows up to z^2 / (n + z^2) = 0.2775.
    assert accuracy_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert accuracy_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    low, high = accuracy_interval(500, 500)
    assert high == 1.0 and 0.99 < low < 0.995, "all right still leaves room below"
    narrow, wide = accuracy_interval(270, 300), accuracy_interval(27, 30)
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 2.5, (
        "ten times the images, about a third of the width"
    )
    assert accuracy_interval(270, 300, confidence=0.99)[0] < narrow[0]
    for bad in [(3, 2), (-1, 5), (0, 0)]:
        with pytest.raises(CourseError, match="correct <= total"):
            accuracy_interval(*bad)


def test_report_prints_its_interval():
    report = _report()
    low, high = report.interval
    assert low < report.accuracy < high
    assert f"95 % interval {low:.3f}-{high:.3f}" in report.table()
    assert (
        report.accuracy_text()
        == f"66.7 % (95 % interval {100 * low:.1f}-{100 * high:.1f} %; 2 of 6 wrong)"
    )
    assert report.to_dict()["accuracy_95_interval"] == [low, high]


def test_mcnemar_exact_counts_only_the_disagreements():
    from tl_helpers.evaluation import mcnemar_exact

    # 1 vs 6 disagreements: P(X <= 1) for Binomial(7, 1/2) is 8/128, two-sided 0.125.
    first = [True] * 50 + [True] * 1 + [False] * 6 + [False] * 3
    second = [True] * 50 + [False] * 1 + [True] * 6 + [False] * 3
    result = mcnemar_exact(first, second)
    assert (result.only_first_right, result.only_second_right) == (1, 6)
    assert result.p_value == pytest.approx(0.125)
    assert mcnemar_exact([True] * 10, [False] * 10).p_value == pytest.approx(2 / 1024)
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0
    assert "within noise" in str(result) and "more than noise" in str(
        mcnemar_exact([True] * 10, [False] * 10)
    )
    with pytest.raises(CourseError, match="different numbers of images"):
        mcnemar_exact([True], [True, False])


def test_reports_are_compared_on_the_same_files_only():
    report = _report()
    better = report_from_probabilities(
        np.eye(3)[[0, 0, 0, 1, 1, 2]], report.labels, report.class_names, report.files
    )
    comparison = report.compare(better)
    assert (comparison.only_first_right, comparison.only_second_right) == (0, 2)
    other_files = report_from_probabilities(
        better.probabilities,
        report.labels,
        report.class_names,
        [Path(f"other{i}.jpg") for i in range(6)],
    )
    with pytest.raises(CourseError, match="different files"):
        report.compare(other_files)


def test_file_predictions_name_true_and_predicted_classes():
    entries = _report().to_dict(predictions=True)["predictions"]
    assert entries[2] == {
        "file": "img2.jpg",
        "true": "a",
        "predicted": "b",
        "probabilities": {
            "a": pytest.approx(0.2),
            "b": pytest.approx(0.7),
            "c": pytest.approx(0.1),
        },
    }
    assert "predictions" not in _report().to_dict()
