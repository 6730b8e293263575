"""Exercise self-checks and the classroom copies made by ``make student``."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from conftest import write_image
from tl_helpers import exercises
from tl_helpers.data import split_class_folders
from tl_helpers.data.splits import Split
from tl_helpers.student import make_student_copies, strip_solutions


def test_test_counts_check(image_folder, capsys):
    splits = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    assert exercises.check_test_counts(splits, {"ants": 3, "bees": 3, "wasps": 3})
    assert not exercises.check_test_counts(splits, {"ants": 3, "bees": 3, "wasps": 4})
    assert "not yet" in capsys.readouterr().out


def test_overlap_check_accepts_right_and_rejects_wrong_functions():
    assert exercises.check_overlap_function(lambda a, b: bool(set(a.files) & set(b.files)))
    assert not exercises.check_overlap_function(lambda a, b: False)
    assert not exercises.check_overlap_function(lambda a, b: len(a) > 0 and len(b) > 0)


def test_smallest_image_check(tmp_path):
    small = write_image(tmp_path / "small.jpg", size=(10, 10))
    big = write_image(tmp_path / "big.jpg", size=(50, 40))
    split = Split((big, small), (0, 1))
    assert exercises.check_smallest_image(split, small)
    assert not exercises.check_smallest_image(split, big)


def _notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell("answer = 42")
    solution.metadata["tags"] = ["solution"]
    exercise = nbformat.v4.new_code_cell(
        "answer = None", outputs=[nbformat.v4.new_output("stream", text="hi")], execution_count=3
    )
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title"), exercise, solution]
    nbformat.write(notebook, path)
    return path


def test_strip_solutions_removes_tagged_cells_and_outputs(tmp_path):
    source = _notebook(tmp_path / "01_demo.ipynb")
    assert strip_solutions(source, tmp_path / "student" / "01_demo.ipynb") == 1
    copy = nbformat.read(tmp_path / "student" / "01_demo.ipynb", as_version=4)
    assert [cell.source for cell in copy.cells] == ["# Title", "answer = None"]
    assert copy.cells[1].outputs == [] and copy.cells[1].execution_count is None
    assert len(nbformat.read(source, as_version=4).cells) == 3, "the original is untouched"


def test_student_copies_of_the_course_notebooks(tmp_path):
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    removed = make_student_copies(notebooks, tmp_path)
    assert set(removed) == {p.name for p in notebooks.glob("[0-9]*.ipynb")}
    for name in removed:
        copy = nbformat.read(tmp_path / name, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in copy.cells)
        assert not any(c.source.startswith("**Answers.**") for c in copy.cells), (
            f"{name}: the questionnaire's answers are left out"
        )
        assert any("## Questionnaire" in c.source for c in copy.cells), "the questions stay"


@pytest.mark.slow
def test_dropout_choice_check_applies_the_rule_to_the_learners_heads(capsys):
    import keras
    import numpy as np

    from tl_helpers.training import FeatureSet, train_head

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60).astype("int32")
    data = FeatureSet(
        (labels[:, None] * 2.0 + rng.normal(0, 0.3, (120, 8))).astype("float32"), labels, ()
    )
    good, _ = train_head(
        data, data, 2, dropout=0.5, learning_rate=1e-2, epochs=200, patience=200, verbose=False
    )
    untrained, _ = train_head(
        data, data, 2, dropout=0.2, learning_rate=1e-9, epochs=1, verbose=False
    )
    heads = {0.2: untrained, 0.5: good}
    assert exercises.check_dropout_choice(heads, data, 0.5)
    verdict = capsys.readouterr().out
    assert "0.5 by the rule" in verdict and "beyond noise" in verdict, verdict
    assert not exercises.check_dropout_choice(heads, data, 0.2)
    hint = capsys.readouterr().out
    assert "not the rate the rule picks" in hint and "0.5" not in hint, (
        "the hint does not give it away"
    )
    assert not exercises.check_dropout_choice({0.2: good, 0.5: untrained}, data, 0.5)
    assert "does not drop out at that rate" in capsys.readouterr().out
    # Dropout does nothing at prediction time: the same weights at rate 0 tie, and ties go to
    # the smaller rate.
    same = keras.models.clone_model(good)
    same.set_weights(good.get_weights())
    next(layer for layer in same.layers if isinstance(layer, keras.layers.Dropout)).rate = 0.0
    assert exercises.check_dropout_choice({0.0: same, 0.5: good}, data, 0.0)
    assert "differ by 0 of 120 validation photos, within noise" in capsys.readouterr().out
    assert not exercises.check_dropout_choice({0.0: same, 0.5: good}, data, 0.5)
    assert not exercises.check_dropout_choice({0.5: good}, data, 0.5), "one head is no choice"
    # train_head leaves the Dropout layer out at rate 0: such a head counts as rate 0.
    plain, _ = train_head(data, data, 2, dropout=0.0, epochs=1, verbose=False)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)
    exercises.check_dropout_choice({0.0: plain, 0.5: good}, data, 0.5)
    assert "does not drop out" not in capsys.readouterr().out


def test_gain_is_noise_check_uses_the_paired_test(colour_folder, capsys):
    import keras
    import numpy as np

    from tl_helpers.data.folders import folder_splits

    split = folder_splits(colour_folder).train
    # Class order: blue_things, green_things, red_things; each is bright in its own channel.
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(3, activation="softmax")
    perfect = keras.Model(inputs, dense(pooled))
    dense.set_weights([np.eye(3)[::-1].astype("float32") / 10, np.zeros(3, "float32")])
    always_first = keras.models.clone_model(perfect)
    always_first.set_weights([np.zeros((3, 3), "float32"), np.array([5, 0, 0], "float32")])
    assert exercises.check_gain_is_noise(perfect, always_first, split, False)
    assert "exact McNemar" in capsys.readouterr().out
    assert not exercises.check_gain_is_noise(perfect, always_first, split, True)
    assert exercises.check_gain_is_noise(perfect, perfect, split, True), "identical models: noise"


def test_test_photos_needed_check(capsys):
    from tl_helpers.evaluation import accuracy_interval

    def half(n):
        low, high = accuracy_interval(round(0.9 * n), n)
        return (high - low) / 2

    needed = next(n for n in range(1, 10_000) if half(n) <= 0.05)
    assert half(needed - 1) > 0.05 >= half(needed)
    assert exercises.check_test_photos_needed(0.9, 0.05, needed)
    assert exercises.check_test_photos_needed(0.9, 0.05, round(needed * 1.08))
    assert not exercises.check_test_photos_needed(0.9, 0.05, needed // 2)
    assert "too wide" in capsys.readouterr().out.splitlines()[-1]
    assert not exercises.check_test_photos_needed(0.9, 0.05, needed * 3)
    assert "narrower than needed" in capsys.readouterr().out
    assert not exercises.check_test_photos_needed(0.9, 0.7, 10)


def test_flatten_parameter_check():
    assert exercises.check_flatten_head_parameters(2 * 2 * 3 * 256 + 256 + 257, (2, 2, 3))
    assert not exercises.check_flatten_head_parameters(2 * 2 * 3 * 256, (2, 2, 3))


def test_most_confident_mistake_check():
    import numpy as np

    from tl_helpers.evaluation import report_from_probabilities

    report = report_from_probabilities(
        np.array([[0.3, 0.7], [0.9, 0.1], [0.4, 0.6]]),
        [0, 1, 0],
        ["a", "b"],
        [Path("x.jpg"), Path("y.jpg"), Path("z.jpg")],
    )
    assert exercises.check_most_confident_mistake(report, "y.jpg")
    assert not exercises.check_most_confident_mistake(report, "x.jpg")


def test_fine_tuning_exercise_checks(tmp_path):
    import keras

    from tl_helpers.models import build_classifier, load_classifier, save_classifier, unfreeze_top

    model = build_classifier(
        "efficientnet_lite0", 2, class_names=["cats", "dogs"], image_size=48, weights=None
    )
    unfrozen = unfreeze_top(model, blocks=1)
    assert exercises.check_trainable_layer_count(model, len(unfrozen))
    assert not exercises.check_trainable_layer_count(model, len(unfrozen) + 1)

    def right(m):
        return sum(
            1
            for layer in m.layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
        )

    assert exercises.check_trainable_batchnorm(right)
    assert not exercises.check_trainable_batchnorm(lambda m: 0)

    loaded = load_classifier(save_classifier(model, tmp_path / "m.keras"))
    image = write_image(tmp_path / "x.png", size=(48, 48), fmt="PNG")
    from tl_helpers.data.decode import load_image
    from tl_helpers.models import probabilities

    said = loaded.class_names[
        int(probabilities(loaded.model, load_image(image, (48, 48))[None])[0].argmax())
    ]
    assert exercises.check_predicted_class(loaded, image, said)
    assert not exercises.check_predicted_class(loaded, image, "cats" if said == "dogs" else "dogs")


def _three_class_report():
    import numpy as np

    from tl_helpers.evaluation import report_from_probabilities

    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 10)
    probabilities = rng.dirichlet(np.ones(3), size=30)
    probabilities[np.arange(30), labels] += 0.6  # mostly right, with some mistakes left
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return report_from_probabilities(
        probabilities, labels, ["a", "b", "c"], [f"{i}.jpg" for i in range(30)]
    )


def test_multiclass_exercise_checks(capsys):
    import numpy as np

    report = _three_class_report()
    matrix = report.confusion
    assert matrix.trace() < 30  # the toy report does contain mistakes
    recall = {name: matrix[i, i] / matrix[i].sum() for i, name in enumerate(report.class_names)}
    assert exercises.check_recall_from_confusion(report, recall)
    precision_instead = {
        name: matrix[i, i] / matrix[:, i].sum() for i, name in enumerate(report.class_names)
    }
    assert recall != precision_instead and not exercises.check_recall_from_confusion(
        report, precision_instead
    )

    def right(probabilities, labels, k):
        return np.mean([label in np.argsort(-row)[:k] for row, label in zip(probabilities, labels)])

    def off_by_one(probabilities, labels, k):
        return right(probabilities, labels, k + 1)

    assert exercises.check_top_k_function(right, report)
    assert not exercises.check_top_k_function(off_by_one, report)

    off = matrix.copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(off.argmax(), off.shape)
    assert exercises.check_most_confused_pair(
        report, (report.class_names[i], report.class_names[j])
    )
    assert not exercises.check_most_confused_pair(
        report, (report.class_names[j], report.class_names[j])
    )
    assert "not yet" in capsys.readouterr().out


def test_backbone_choice_exercise_checks(capsys):
    from tl_helpers.training import Candidate

    def candidate(size: int, correct: int, ms: float) -> Candidate:
        return Candidate("efficientnet_lite1", size, correct, 300, ms, 4_200_000, 17_000_000)

    fast, dominated, best = (
        candidate(224, 270, 10.0),
        candidate(256, 268, 15.0),
        candidate(288, 280, 25.0),
    )
    everyone = [fast, dominated, best]
    assert exercises.check_pareto_labels(everyone, {"lite1 224px", "lite1 288px"})
    assert not exercises.check_pareto_labels(
        everyone, {"lite1 224px", "lite1 256px", "lite1 288px"}
    )
    assert "1 of yours are beaten" in capsys.readouterr().out
    assert not exercises.check_pareto_labels(everyone, None)
    assert exercises.check_slowdown(everyone, 2.5) and exercises.check_slowdown(everyone, 2.55)
    assert not exercises.check_slowdown(everyone, 1.5)
    assert not exercises.check_slowdown(everyone, None)


def test_closing_rate_exercise_check(capsys):
    from tl_helpers.training.budget import AccuracyOverTime

    short = AccuracyOverTime("scratch", 90, [30, 60, 90], [0.5, 0.55, 0.60])
    long = AccuracyOverTime("scratch", 360, [30, 90, 200, 350, 400], [0.5, 0.6, 0.66, 0.72, 0.9])
    # 0.72 (the last epoch inside 360 s; the one at 400 s is past it) minus 0.60 over 4.5 minutes
    assert exercises.check_closing_rate(long, short, 12 / 4.5)
    assert "+2.7 points per extra minute" in capsys.readouterr().out
    assert not exercises.check_closing_rate(long, short, 30 / 4.5), "the epoch past the budget"
    assert not exercises.check_closing_rate(long, short, None)
    assert not exercises.check_closing_rate(short, long, 1.0)
    assert "larger budget_s" in capsys.readouterr().out
