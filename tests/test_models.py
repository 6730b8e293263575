"""Classifier building, freezing rules, BatchNorm behaviour, compile guard, save and load."""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest

from tl_helpers.backbones import backbone_spec, build_backbone, list_blocks
from tl_helpers.errors import CourseError
from tl_helpers.models import (
    ClassLabels,
    ModelFileError,
    StaleCompileError,
    augmentation_block,
    build_classifier,
    build_head,
    check_compiled,
    class_names_of,
    classifier_parts,
    compile_classifier,
    find_backbone,
    freeze_base,
    load_classifier,
    loss_for,
    output_layer,
    parameter_counts,
    probabilities,
    save_classifier,
    unfreeze_top,
)

SIZE = 64


def _data(n=16, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32), rng.integers(0, classes, n)


@pytest.fixture
def binary_model():
    return build_classifier("efficientnet_lite0", 2, class_names=["cats", "dogs"], image_size=SIZE)


def test_binary_classifier_has_one_sigmoid_unit_and_binary_loss(binary_model):
    assert binary_model.output_shape == (None, 1)
    assert classifier_parts(binary_model).head.layers[-1].activation.__name__ == "sigmoid"
    assert isinstance(loss_for(binary_model), keras.losses.BinaryCrossentropy)
    assert class_names_of(binary_model) == ["cats", "dogs"]


def test_multiclass_classifier_has_softmax_and_sparse_loss():
    model = build_classifier(
        "efficientnet_lite0", 5, class_names=list("abcde"), image_size=SIZE, weights=None
    )
    assert model.output_shape == (None, 5)
    assert isinstance(loss_for(model), keras.losses.SparseCategoricalCrossentropy)
    x, _ = _data(3)
    np.testing.assert_allclose(np.asarray(model(x)).sum(axis=1), 1.0, atol=1e-5)


def test_frozen_base_leaves_only_the_head_trainable(binary_model):
    counts = parameter_counts(binary_model)
    assert counts.trainable == 1280 + 1, "GAP head: one weight per feature channel plus a bias"
    assert counts.non_trainable == find_backbone(binary_model).count_params()


def test_flatten_head_is_the_blog_recipe():
    model = build_classifier("efficientnet_lite0", 2, image_size=SIZE, head="flatten", weights=None)
    parts = classifier_parts(model)
    assert isinstance(parts.pooling, keras.layers.Flatten)
    dense, dropout, output = parts.head.layers[1:]
    assert (dense.units, dense.activation.__name__, dropout.rate, output.units) == (
        256,
        "relu",
        0.5,
        1,
    )
    feature_size = 2 * 2 * 1280  # 64 px / 32 = 2x2 feature map
    assert parameter_counts(model).trainable == feature_size * 256 + 256 + 257


def test_bad_arguments_are_refused():
    with pytest.raises(CourseError, match="at least 2 classes"):
        build_classifier("efficientnet_lite0", 1, image_size=SIZE, weights=None)
    with pytest.raises(CourseError, match="unknown head"):
        build_classifier("efficientnet_lite0", 2, image_size=SIZE, head="attention", weights=None)
    with pytest.raises(CourseError, match="class names"):
        build_classifier(
            "efficientnet_lite0", 3, class_names=["a", "b"], image_size=SIZE, weights=None
        )


def test_augmentation_changes_images_only_in_training():
    x, _ = _data(4)
    block = augmentation_block()
    np.testing.assert_array_equal(np.asarray(block(x, training=False)), x)
    assert not np.allclose(np.asarray(block(x, training=True)), x)
    model = build_classifier("efficientnet_lite0", 2, image_size=SIZE, augmentation=True)
    parts = classifier_parts(model)
    # In inference mode the model is exactly base -> pooling -> head: the augmentation is skipped.
    without_augmentation = parts.head(parts.pooling(parts.base(x, training=False)))
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)), np.asarray(without_augmentation), atol=1e-6
    )
    assert not np.allclose(
        np.asarray(model(x, training=True)), np.asarray(without_augmentation), atol=1e-4
    )


def test_unfreeze_last_blocks_keeps_batchnorm_frozen(binary_model):
    unfrozen = unfreeze_top(binary_model, blocks=3)
    base = find_backbone(binary_model)
    assert unfrozen[0] == "block13_expand_conv" and unfrozen[-1] == "head_conv"
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert not layer.trainable, f"{layer.name} must stay frozen"
    assert not base.get_layer("block12_project_conv").trainable
    expected = sum(base.get_layer(name).count_params() for name in unfrozen) + 1281
    assert parameter_counts(binary_model).trainable == expected


def test_three_ways_to_say_where_unfreezing_starts_agree(binary_model):
    by_count = unfreeze_top(binary_model, blocks=4)
    assert unfreeze_top(binary_model, from_block=12) == by_count
    assert unfreeze_top(binary_model, from_block="block12") == by_count
    assert unfreeze_top(binary_model, from_layer="block12_expand_conv") == by_count
    freeze_base(binary_model)
    assert parameter_counts(binary_model).trainable == 1281


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one"),
        ({"blocks": 17}, "between 0 and 16"),
        ({"from_block": "block99"}, "no block"),
        ({"from_layer": "nope"}, "no layer"),
    ],
)
def test_unfreeze_arguments_are_checked(binary_model, kwargs, message):
    with pytest.raises(CourseError, match=message):
        unfreeze_top(binary_model, **kwargs)


@pytest.mark.slow
def test_batchnorm_statistics_stay_fixed_while_fine_tuning(binary_model):
    x, y = _data()
    base = find_backbone(binary_model)
    before = {
        layer.name: [w.copy() for w in layer.get_weights()]
        for layer in base.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    conv_before = base.get_layer("block15_project_conv").get_weights()[0].copy()
    unfreeze_top(binary_model, blocks=2)
    compile_classifier(binary_model, 1e-3)
    binary_model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for name, weights in before.items():
        for old, new in zip(weights, base.get_layer(name).get_weights()):
            np.testing.assert_array_equal(old, new, err_msg=f"{name} changed")
    assert not np.allclose(conv_before, base.get_layer("block15_project_conv").get_weights()[0]), (
        "unfrozen conv must train"
    )


def test_changing_trainable_without_recompiling_is_caught(binary_model):
    compile_classifier(binary_model)
    check_compiled(binary_model)
    unfreeze_top(binary_model, blocks=1)
    with pytest.raises(StaleCompileError, match="compile_classifier"):
        check_compiled(binary_model)
    compile_classifier(binary_model, 1e-5)
    check_compiled(binary_model)


@pytest.mark.slow
def test_save_and_load_round_trip(binary_model, tmp_path):
    x, y = _data()
    compile_classifier(binary_model)
    binary_model.fit(x, y, epochs=1, verbose=0)
    path = save_classifier(binary_model, tmp_path / "pets.keras")
    loaded = load_classifier(path)
    assert loaded.class_names == ["cats", "dogs"]
    assert loaded.image_size == (SIZE, SIZE)
    np.testing.assert_array_equal(probabilities(loaded.model, x), probabilities(binary_model, x))
    assert probabilities(loaded.model, x).shape == (16, 2)
    # The file says what the model is: its backbone can be found and unfrozen by blocks again.
    parts = classifier_parts(loaded.model)
    assert parts.spec.name == "efficientnet_lite0" and parts.labels.head == "pooling"
    assert len(unfreeze_top(loaded.model, blocks=2)) > 0


def test_save_needs_keras_suffix(binary_model, tmp_path):
    with pytest.raises(ModelFileError, match=".keras"):
        save_classifier(binary_model, tmp_path / "pets.h5")


def test_loading_something_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(ModelFileError, match="not a .keras model file"):
        load_classifier(tmp_path / "notes.keras")
    with pytest.raises(ModelFileError, match="no model file"):
        load_classifier(tmp_path / "missing.keras")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as bundle:
        bundle.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="could not be loaded"):
        load_classifier(tmp_path / "empty.keras")


def test_model_with_a_lambda_layer_is_refused_in_safe_mode(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match="safe mode"):
        load_classifier(tmp_path / "lambda.keras")


def test_probabilities_gives_one_column_per_class_for_sigmoid_and_softmax():
    inputs = keras.Input((3,))
    sigmoid = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    softmax = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs))
    features = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    p = sigmoid.predict(features, verbose=0)
    np.testing.assert_allclose(
        probabilities(sigmoid, features), np.concatenate([1 - p, p], axis=1), atol=1e-6
    )
    np.testing.assert_allclose(
        probabilities(softmax, features), softmax.predict(features, verbose=0), atol=1e-6
    )
    with pytest.raises(CourseError, match=r"inputs of shape \(5, 4\)"):
        probabilities(softmax, np.zeros((5, 4)))


def test_one_output_rule_and_one_head_builder():
    assert (output_layer(2).units, output_layer(2).activation.__name__) == (1, "sigmoid")
    assert (output_layer(5).units, output_layer(5).activation.__name__) == (5, "softmax")
    with pytest.raises(CourseError, match="at least 2 classes"):
        output_layer(1)
    head = build_head(1280, 3, dropout=0.3)
    assert [type(layer).__name__ for layer in head.layers] == ["InputLayer", "Dropout", "Dense"]
    assert build_head(1280, 3, dropout=0.0).count_params() == 1280 * 3 + 3
    # Seeded: the same seed gives the same initial head, another seed another one.
    np.testing.assert_array_equal(
        build_head(8, 3, seed=1).get_weights()[0], build_head(8, 3, seed=1).get_weights()[0]
    )
    assert not np.array_equal(
        build_head(8, 3, seed=1).get_weights()[0], build_head(8, 3, seed=2).get_weights()[0]
    )


def test_building_a_classifier_does_not_reseed_the_global_generators():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    build_classifier("efficientnet_lite0", 3, image_size=SIZE, weights=None)
    assert np.random.random() == expected, (
        "build_classifier must leave the global seeds alone (set_seeds does that)"
    )


def test_the_backbone_is_known_by_its_spec_not_by_its_name():
    base = build_backbone("efficientnet_lite0", SIZE, weights=None)
    base.name = "renamed"  # a layer name is no contract: the spec travels with the model
    assert backbone_spec(base).name == "efficientnet_lite0" and len(list_blocks(base)) == 16
    model = build_classifier(base, 2)
    labels = model.layers[-1]
    assert isinstance(labels, ClassLabels) and labels.backbone == "efficientnet_lite0"
    assert classifier_parts(model).base is base
    stranger = keras.Model(base.input, base.output)  # not built by build_backbone
    with pytest.raises(CourseError, match="not built by build_backbone"):
        list_blocks(stranger)
    with pytest.raises(CourseError, match="not built by build_classifier"):
        classifier_parts(stranger)


def test_test_time_augmentation_is_the_mean_over_the_photo_and_its_mirror_image():
    import tensorflow as tf

    model = build_classifier("efficientnet_lite0", 3, image_size=SIZE)
    x, _ = _data(6)
    plain = model.predict(x, verbose=0)
    mirrored = model.predict(x[:, :, ::-1], verbose=0)
    assert not np.allclose(plain, mirrored, atol=1e-4), (
        "a photo and its mirror image differ for the model"
    )
    np.testing.assert_allclose(probabilities(model, x, tta=True), (plain + mirrored) / 2, atol=1e-6)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(4)
    np.testing.assert_allclose(
        probabilities(model, dataset, tta=True), (plain + mirrored) / 2, atol=1e-6
    )
    head = build_head(8, 3)
    with pytest.raises(CourseError, match="takes feature vectors"):
        probabilities(head, np.zeros((2, 8)), tta=True)
