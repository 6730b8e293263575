"""The helpers that stage notebook 05's mistakes: each must stage the mistake it names, and the
right version must stay right."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tl_helpers import exercises, pitfalls
from tl_helpers.backbones import build_backbone
from tl_helpers.data.folders import folder_splits
from tl_helpers.errors import CourseError
from tl_helpers.models import augmentation_block
from tl_helpers.training import FeatureSet

BLOG_CODE = """
base = keras.applications.MobileNetV2(include_top=False, weights="imagenet")
model = keras.Sequential([keras.layers.Rescaling(1/255), base, keras.layers.Flatten(),
                          keras.layers.Dense(5, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
train_ds = keras.utils.image_dataset_from_directory("flowers", label_mode="int")
model.fit(train_ds, epochs=10)
"""

CLEAN_CODE = """
base = keras.applications.EfficientNetB0(include_top=False, weights="imagenet", pooling="avg")
base.trainable = False
model = keras.Sequential([base, keras.layers.Dense(5, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
train_ds = keras.utils.image_dataset_from_directory("flowers", label_mode="int").cache().map(augment)
model.fit(train_ds, epochs=10)
"""


def _blobs(per_class=30, classes=3, dims=8, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (classes, dims))
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)
    return FeatureSet(
        (centres[labels] + rng.normal(0, spread, (len(labels), dims))).astype(np.float32),
        labels,
        (),
    )


def _tiny_top(channels=6, kernel_initializer="glorot_uniform"):
    """Stands in for the top blocks of a base: convolution, BatchNorm, ReLU."""
    inputs = keras.Input(shape=(None, None, channels))
    x = keras.layers.Conv2D(
        8, 3, padding="same", use_bias=False, name="conv", kernel_initializer=kernel_initializer
    )(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.ReLU()(x), name="tiny_top")


def _activation_data(count=24, classes=2, seed=0):
    """Activation maps whose class is written in their mean: easy to learn."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % classes
    maps = rng.normal(0, 1, (count, 5, 5, 6)) + labels[:, None, None, None] * 1.5
    return maps.astype(np.float32), labels.astype(np.int32)


# ------------------------------------------------------------------------------------ scaling


def test_each_scaling_mistake_reaches_the_convolutions_as_named():
    base = build_backbone("efficientnet_lite0", (32, 32), weights=None)
    preprocess = base.get_layer("preprocess")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    seen = {
        m: np.asarray(preprocess(pitfalls.mistaken_input(images, m)))
        for m in pitfalls.SCALING_MISTAKES
    }
    np.testing.assert_allclose(seen["correct"], (images - 127) / 128, atol=1e-5)
    assert seen["rescale_1_255"].max() < -0.98, "0..1 pixels arrive as a nearly constant -0.99"
    np.testing.assert_allclose(seen["channels_swapped"], (images[..., ::-1] - 127) / 128, atol=1e-5)
    np.testing.assert_allclose(seen["mean_not_subtracted"], images / 128, atol=1e-5)
    np.testing.assert_allclose(seen["caffe_step_skipped"], images[..., ::-1] / 128, atol=1e-5)
    with pytest.raises(CourseError, match="unknown scaling mistake 'bgr'.*rescale_1_255"):
        pitfalls.mistaken_input(images, "bgr")


# ------------------------------------------------------------------------------- fine-tuning


def test_relative_change():
    before = [np.ones((2, 2)), np.ones(3)]
    assert pitfalls.relative_change(before, before) == 0
    after = [np.full((2, 2), 2.0), np.ones(3)]
    assert pitfalls.relative_change(before, after) == pytest.approx(np.sqrt(4 / 7))
    with pytest.raises(CourseError):
        pitfalls.relative_change(before, after[:1])


def test_staged_fine_tuning_never_touches_the_callers_model():
    top = _tiny_top()
    original = [w.numpy() for w in top.weights]
    train = validation = _activation_data()
    run = pitfalls.stage_fine_tuning(
        top,
        train,
        validation,
        num_classes=2,
        head=None,
        learning_rate=1e-2,
        epochs=2,
        batchnorm="training",
        name="x",
    )
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(original, top.weights))
    assert run.top is not top and run.weight_change > 0
    assert len(run.validation_accuracy) == 3 and len(run.train_accuracy) == 2
    assert run.final == run.validation_accuracy[-1] and run.worst == min(
        run.validation_accuracy[1:]
    )


@pytest.mark.slow
def test_batchnorm_statistics_move_only_in_the_training_mode_run():
    top = _tiny_top()
    data = _activation_data()
    moving = lambda model: model.get_layer("bn").moving_mean.numpy()  # noqa: E731
    common = dict(num_classes=2, head=None, learning_rate=1e-3, epochs=1)
    frozen = pitfalls.stage_fine_tuning(top, data, data, batchnorm="inference", **common)
    training = pitfalls.stage_fine_tuning(top, data, data, batchnorm="training", **common)
    np.testing.assert_array_equal(moving(frozen.top), moving(top))
    assert not np.allclose(moving(training.top), moving(top))
    assert frozen.weight_change > 0, "the convolution trains in both runs"
    head_only = pitfalls.stage_fine_tuning(
        top, data, data, num_classes=2, head=None, learning_rate=1e-2, epochs=1, train_base=False
    )
    assert head_only.weight_change == 0
    with pytest.raises(CourseError, match="batchnorm must be"):
        pitfalls.stage_fine_tuning(
            top, data, data, num_classes=2, head=None, learning_rate=1e-3, batchnorm="eval"
        )


@pytest.mark.slow
def test_a_given_head_starts_the_run_converged():
    from tl_helpers.training import train_head

    top = _tiny_top()
    data = _activation_data(count=60, classes=3)
    pooled = keras.Sequential([top, keras.layers.GlobalAveragePooling2D()]).predict(
        data[0], verbose=0
    )
    head, _ = train_head(
        FeatureSet(pooled, data[1], ()),
        FeatureSet(pooled, data[1], ()),
        3,
        learning_rate=1e-2,
        epochs=150,
        patience=150,
        verbose=False,
    )
    expected = float(np.mean(head.predict(pooled, verbose=0).argmax(1) == data[1]))
    warm = pitfalls.stage_fine_tuning(
        top, data, data, num_classes=3, head=head, learning_rate=1e-6, epochs=1
    )
    cold = pitfalls.stage_fine_tuning(
        top, data, data, num_classes=3, head=None, learning_rate=1e-6, epochs=1
    )
    assert warm.validation_accuracy[0] == pytest.approx(expected, abs=1e-6)
    assert warm.validation_accuracy[0] > cold.validation_accuracy[0]


def test_training_false_does_not_protect_unfrozen_batchnorm_in_keras_3():
    sample = _activation_data(count=8)[0]
    assert pitfalls.training_false_sticks(_tiny_top(), sample) is False
    inputs = keras.Input(shape=(None, None, 6))
    without_batchnorm = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    assert pitfalls.training_false_sticks(without_batchnorm, sample) is True


@pytest.mark.slow
def test_linear_probe_tells_good_features_from_noise():
    top = _tiny_top(
        kernel_initializer=keras.initializers.Constant(0.05)
    )  # passes the class signal through
    data = _activation_data(
        count=640
    )  # ten batches per epoch: enough steps for the probe to converge
    assert pitfalls.linear_probe(top, data, _activation_data(count=100, seed=5), 2) >= 0.9
    noise = (data[0], np.random.default_rng(1).permutation(data[1]))
    assert pitfalls.linear_probe(top, noise, _activation_data(count=100, seed=5), 2) < 0.8


# ----------------------------------------------------------------------------------- leakage


def test_reshuffled_take_skip_leaks_and_the_fixed_order_does_not():
    train, test = pitfalls.shuffled_take_skip(100, 20, reshuffle=True, seed=1)
    first_test, second_test = pitfalls.indices_seen(test, passes=2)
    assert not np.array_equal(np.sort(first_test), np.sort(second_test)), (
        "the test set changes between reads"
    )
    trained_on = set(np.concatenate(pitfalls.indices_seen(train, passes=3)).tolist())
    assert len(set(first_test.tolist()) & trained_on) > 0

    train, test = pitfalls.shuffled_take_skip(100, 20, reshuffle=False, seed=1)
    tests = pitfalls.indices_seen(test, passes=2)
    trains = pitfalls.indices_seen(train, passes=3)
    assert np.array_equal(tests[0], tests[1])
    assert not set(tests[0].tolist()) & set(np.concatenate(trains).tolist())
    assert sorted(tests[0].tolist() + trains[0].tolist()) == list(range(100))
    with pytest.raises(CourseError, match="test_size"):
        pitfalls.shuffled_take_skip(10, 10, reshuffle=False)


# --------------------------------------------------------------------------------- imbalance


def test_drop_most_of_class_keeps_the_first_examples_of_that_class_only():
    data = _blobs(per_class=10)
    fewer = pitfalls.drop_most_of_class(data, 1, keep=3)
    assert np.bincount(fewer.labels).tolist() == [10, 3, 10]
    np.testing.assert_array_equal(
        fewer.features[fewer.labels == 1], data.features[data.labels == 1][:3]
    )
    with pytest.raises(CourseError, match="keep must be"):
        pitfalls.drop_most_of_class(data, 1, keep=11)
    with pytest.raises(CourseError, match="does not occur"):
        pitfalls.drop_most_of_class(data, 7, keep=1)


def test_first_per_class():
    assert pitfalls.first_per_class([2, 0, 2, 1, 0, 2], 2).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(CourseError):
        pitfalls.first_per_class([0, 1], 0)


# ---------------------------------------------------------------------------------- selection


def test_choosing_on_the_test_split_is_optimistic_and_choosing_on_validation_is_not():
    # 40 candidates that are all coin flips: any "best" one is luck.
    correct = np.random.default_rng(0).random((40, 200)) < 0.5
    on_test = pitfalls.selection_bias(correct, repeats=100, seed=0)
    on_validation = pitfalls.selection_bias(
        correct, chosen_by=np.random.default_rng(1).random(40), repeats=100, seed=0
    )
    assert on_test.optimism > 0.04
    assert abs(on_validation.optimism) < 0.02
    assert pitfalls.selection_bias(correct, repeats=100, seed=0) == on_test, (
        "same seed, same halves"
    )
    with pytest.raises(CourseError, match="one score per candidate"):
        pitfalls.selection_bias(correct, chosen_by=[0.5])


@pytest.mark.slow
def test_head_candidates_score_every_setting_at_every_checkpoint():
    train, validation, test = (
        _blobs(seed=0),
        _blobs(per_class=10, seed=0),
        _blobs(per_class=12, seed=0),
    )
    found = pitfalls.head_candidates(
        train, validation, test, 3, learning_rates=(1e-2,), dropouts=(0.0, 0.5), checkpoints=(1, 30)
    )
    assert found.names == [
        "lr 0.01, dropout 0, 1 epochs",
        "lr 0.01, dropout 0, 30 epochs",
        "lr 0.01, dropout 0.5, 1 epochs",
        "lr 0.01, dropout 0.5, 30 epochs",
    ]
    assert found.test_correct.shape == (4, 36) and found.validation_accuracy.shape == (4,)
    assert found.validation_accuracy[1] >= 0.9 and found.test_correct[1].mean() >= 0.9


# ------------------------------------------------------------------------ losses and outputs


def test_output_accuracy_reads_arg_max_or_threshold():
    assert pitfalls.output_accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), [1, 1]) == 0.5
    logits = np.array([[-1.0], [0.3], [2.0]])
    assert pitfalls.output_accuracy(logits, [0, 1, 1]) == pytest.approx(2 / 3)
    assert pitfalls.output_accuracy(logits, [0, 1, 1], threshold=0.0) == 1.0


@pytest.mark.slow
def test_head_variants_learn_fail_loudly_or_fail_silently():
    data = _blobs(classes=3)
    right = pitfalls.fit_head_variant(
        data,
        data,
        units=3,
        activation="softmax",
        loss="sparse_categorical_crossentropy",
        learning_rate=1e-2,
        epochs=20,
    )
    assert (
        right.error is None
        and pitfalls.output_accuracy(right.model.predict(data.features, verbose=0), data.labels)
        > 0.9
    )
    loud = pitfalls.fit_head_variant(
        data, data, units=3, activation="softmax", loss="categorical_crossentropy"
    )
    assert loud.model is None and loud.error and "categorical_crossentropy" in loud.description
    binary = _blobs(classes=2)
    silent = pitfalls.fit_head_variant(
        binary, binary, units=1, activation="sigmoid", loss="categorical_crossentropy", epochs=3
    )
    assert silent.error is None and max(silent.history["loss"]) == pytest.approx(0, abs=1e-6), (
        "nothing to learn from"
    )
    double = pitfalls.fit_head_variant(
        binary,
        binary,
        units=1,
        activation="sigmoid",
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        epochs=1,
    )
    assert any("from_logits=True" in w for w in double.warnings)
    assert "from_logits=True" in double.description
    # Keras 3 uses the logits behind a final sigmoid; a layer after the sigmoid hides it: a real double sigmoid.
    binary = _blobs(per_class=320, classes=2)  # ten batches per epoch
    sigmoid = dict(units=1, activation="sigmoid", epochs=30, learning_rate=1e-2)
    logits_loss = keras.losses.BinaryCrossentropy(from_logits=True)
    right = pitfalls.fit_head_variant(binary, binary, loss="binary_crossentropy", **sigmoid)
    caught = pitfalls.fit_head_variant(binary, binary, loss=logits_loss, **sigmoid)
    hidden = pitfalls.fit_head_variant(
        binary, binary, loss=logits_loss, after_output=keras.layers.Reshape((1,)), **sigmoid
    )
    assert caught.history["loss"] == pytest.approx(right.history["loss"], rel=1e-4)
    assert (
        hidden.history["loss"][-1] > 0.31 > right.history["loss"][-1]
        and "Reshape" in hidden.description
    )
    sparse_on_one_unit = pitfalls.fit_head_variant(
        binary, binary, units=1, activation="sigmoid", loss="sparse_categorical_crossentropy"
    )
    assert sparse_on_one_unit.error and "label value of 1" in sparse_on_one_unit.error


# ------------------------------------------------------------------------------ augmentation


def test_augmenting_before_cache_freezes_the_randomness():
    images = np.random.default_rng(0).uniform(0, 255, (6, 24, 24, 3)).astype(np.float32)
    augment = augmentation_block(seed=3)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(6)))
    before = dataset.map(lambda x, y: (augment(x, training=True), y)).cache()
    after = dataset.cache().map(lambda x, y: (augment(x, training=True), y))
    assert pitfalls.identical_across_passes(before) == 1.0
    assert pitfalls.identical_across_passes(after) == 0.0
    assert pitfalls.identical_across_passes(tf.data.Dataset.from_tensor_slices(images)) == 1.0


# -------------------------------------------------------------------------- data and summary


def test_image_arrays_loads_a_split(colour_folder):
    splits = folder_splits(colour_folder)
    images, labels = pitfalls.image_arrays(splits.validation, 32)
    assert images.shape == (len(splits.validation), 32, 32, 3) and images.max() > 1
    assert labels.tolist() == list(splits.validation.labels)


def test_summary_table_keeps_one_row_per_pitfall():
    summary = pitfalls.PitfallSummary()
    summary.add("1 scaling", "accuracy", "20%", "75%")
    summary.add("2 frozen", "accuracy", "41%", "68%")
    summary.add("1 scaling", "accuracy", "21%", "75%")
    lines = summary.table().splitlines()
    assert lines[0].split() == ["pitfall", "measured", "wrong", "right"]
    assert len(lines) == 4 and "21%" in summary.table() and "20%" not in summary.table()


# ----------------------------------------------------------------------------------- linting


def test_lint_finds_the_blog_posts_mistakes_and_passes_clean_code():
    assert set(pitfalls.lint_pitfalls(BLOG_CODE)) == {1, 2, 6, 11}
    assert pitfalls.lint_pitfalls(CLEAN_CODE) == {}


@pytest.mark.parametrize(
    "source, number",
    [
        ("base.trainable = True\nmodel.compile(loss='mse')\nmodel.fit(x)", 3),
        ("model.compile(loss='mse')\nbase.trainable = False\nmodel.fit(x)", 5),
        ("ds = ds.shuffle(1000)\ntest = ds.take(100)\ntrain = ds.skip(100)", 7),
        ("train = ds.map(lambda x, y: (augment(x), y)).cache()", 8),
        ("Dense(1, activation='sigmoid')\nloss=BinaryCrossentropy(from_logits=True)", 9),
        (
            "image_dataset_from_directory(d, label_mode='categorical')\nloss='sparse_categorical_crossentropy'",
            11,
        ),
    ],
)
def test_lint_finds_each_pattern(source, number):
    assert number in pitfalls.lint_pitfalls(source)


def test_lint_accepts_the_fixes():
    assert 5 not in pitfalls.lint_pitfalls(
        "model.compile(loss='mse')\nbase.trainable = False\nmodel.compile(loss='mse')\nmodel.fit(x)"
    )
    assert 7 not in pitfalls.lint_pitfalls(
        "ds = ds.shuffle(1000, reshuffle_each_iteration=False)\ntest = ds.take(100)"
    )
    assert 3 not in pitfalls.lint_pitfalls(
        "base.trainable = True\nfor l in base.layers:\n    if isinstance(l, BatchNormalization): l.trainable = False"
    )


def test_check_pitfalls_found(capsys):
    assert exercises.check_pitfalls_found(BLOG_CODE, {1, 2, 6, 11})
    assert not exercises.check_pitfalls_found(BLOG_CODE, {1, 2})
    assert "2 missed" in capsys.readouterr().out


def test_check_candidate_rows(capsys):
    found = pitfalls.Candidates(
        [
            "lr 0.001, dropout 0, 1 epochs",
            "lr 0.003, dropout 0, 1 epochs",
            "lr 0.001, dropout 0, 5 epochs",
            "lr 0.001, dropout 0.5, 1 epochs",
        ],
        np.zeros(4),
        np.zeros((4, 2), bool),
    )
    assert exercises.check_candidate_rows(found, [0, 2])
    assert not exercises.check_candidate_rows(found, [0, 2, 3])
    assert not exercises.check_candidate_rows(found, None)
    assert "start with 'lr 0.001, dropout 0,'" in capsys.readouterr().out
