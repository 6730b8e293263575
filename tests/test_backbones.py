"""Backbone registry: the EfficientNet-Lite0 port and its weights, Keras applications, preprocessing."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

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
from tl_helpers.errors import CourseError, UnknownNameError


@pytest.fixture(scope="module")
def lite_classifier():
    return lite.efficientnet_lite0(include_top=True)


def test_conversion_uses_every_tensor_and_sets_every_layer():
    state = load_torch_state_dict(lite.weights_source())
    converted = lite.convert_state_dict(state)
    real_tensors = [name for name in state if not name.endswith("num_batches_tracked")]
    assert sum(len(ws) for ws in converted.values()) == len(real_tensors) == 296 - 49
    model = lite.build_efficientnet_lite0(include_top=True)
    assert lite.assign_weights(model, converted) == [], "no converted tensor may be left over"
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert sorted(weighted) == sorted(converted)
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
    files = sorted(folder.iterdir())[:count]
    return np.stack(
        [
            np.asarray(
                Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR), np.float32
            )
            for f in files
        ]
    )


def test_imagenet_sanity_on_real_cats_and_dogs(mirror, lite_classifier):
    """The port is right if ImageNet's own classes come out: cat breeds 281-285, dog breeds 151-268."""
    root = mirror / "cats_and_dogs_filtered" / "validation"
    cats = lite_classifier.predict(_first_photos(root / "cats"), verbose=0).argmax(axis=1)
    dogs = lite_classifier.predict(_first_photos(root / "dogs"), verbose=0).argmax(axis=1)
    assert np.mean((cats >= 281) & (cats <= 285)) >= 0.80
    assert np.mean((dogs >= 151) & (dogs <= 268)) >= 0.90


def test_lite0_scales_inputs_inside_the_model():
    model = lite.build_efficientnet_lite0((32, 32, 3))
    scaled = model.get_layer("preprocess")(np.array([[[[0.0, 127.0, 255.0]]]], np.float32))
    np.testing.assert_allclose(np.asarray(scaled), [[[[-127 / 128, 0.0, 1.0]]]], atol=1e-6)


@pytest.mark.parametrize(
    "name", ["efficientnet_lite0", "mobilenet_v2", "vgg16", "efficientnet_b0", "resnet50"]
)
def test_every_backbone_builds_offline_with_random_weights(name):
    model = build_backbone(name, 64, weights=None)
    assert model.name == name
    assert model.input_shape == (None, 64, 64, 3)
    assert len(model.output_shape) == 4, "a feature map, pooled by the head"
    assert model.layers[1].name == "preprocess" or name == "efficientnet_lite0"
    assert len(list_blocks(model)) >= 5
    features = model(np.full((1, 64, 64, 3), 128.0, np.float32))
    assert np.all(np.isfinite(np.asarray(features)))


def test_registry_lists_the_course_backbones():
    assert {"efficientnet_lite0", "mobilenet_v2", "vgg16", "efficientnet_b0", "resnet50"} <= set(
        backbone_names()
    )
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
