"""The frozen pass on ONNX Runtime: chosen only where it pays and matches Keras, converted once,
checked once, and kept apart from Keras's entries in the feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tl_helpers import config
from tl_helpers.backbones import build_backbone
from tl_helpers.data.folders import folder_splits
from tl_helpers.errors import CourseWarning, UnknownNameError
from tl_helpers.training import (
    extract_activations,
    extract_features,
    frozen_runtime,
    split_backbone,
)
from tl_helpers.training.cached_pass import cache_key
from tl_helpers.training.features import pooled_backbone

SIZE = 64


def test_the_runtime_is_chosen_before_anything_is_built(monkeypatch):
    many = frozen_runtime.MIN_IMAGES
    assert frozen_runtime.chosen_runtime("auto", many) == "onnx"  # this machine: CPU, ORT there
    assert frozen_runtime.chosen_runtime("auto", many - 1) == "keras", "too few to repay it"
    assert frozen_runtime.chosen_runtime("auto", many, several_devices=True) == "keras"
    assert frozen_runtime.chosen_runtime("keras", 10**6) == "keras"
    assert frozen_runtime.chosen_runtime("onnx", 3) == "onnx", "asked for, so used"
    with pytest.raises(UnknownNameError, match="tflite"):
        frozen_runtime.chosen_runtime("tflite", many)
    monkeypatch.setattr(frozen_runtime, "_onnx_installed", lambda: False)
    assert frozen_runtime.chosen_runtime("auto", many) == "keras"
    monkeypatch.setattr(frozen_runtime, "_onnx_installed", lambda: True)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert frozen_runtime.chosen_runtime("auto", many) == "keras", "a GPU runs Keras faster"


def test_onnx_runtime_gives_kerass_features_and_converts_once(fresh_cache, monkeypatch):
    model = pooled_backbone("efficientnet_lite0", (SIZE, SIZE))
    conversions = []
    real = frozen_runtime._converted
    monkeypatch.setattr(
        frozen_runtime, "_converted", lambda m, p: (conversions.append(p), real(m, p))
    )
    runner = frozen_runtime.frozen_runner(model, "onnx")
    assert runner.runtime == "onnx" and runner.max_difference is not None
    assert runner.max_difference <= frozen_runtime.TOLERANCE
    images = np.random.default_rng(5).uniform(0, 255, (6, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(runner.run(images), model(images).numpy(), atol=1e-3)
    (converted,) = conversions
    record = json.loads(converted.with_suffix(".json").read_text())
    assert record["max_difference"] == runner.max_difference
    again = frozen_runtime.frozen_runner(model, "onnx")
    assert again.runtime == "onnx" and len(conversions) == 1, "converted and checked once"


def test_a_runtime_that_disagrees_or_fails_leaves_the_pass_on_keras(fresh_cache, monkeypatch):
    model = pooled_backbone("efficientnet_lite0", (SIZE, SIZE))
    first = frozen_runtime.frozen_runner(model, "onnx")
    (record,) = (fresh_cache / "frozen_onnx").glob("*.json")
    record.write_text(json.dumps({"max_difference": 0.5}))  # as if ORT had drifted
    with pytest.warns(CourseWarning, match="differ from Keras's by up to 0.5"):
        drifted = frozen_runtime.frozen_runner(model, "onnx")
    assert first.runtime == "onnx" and drifted.runtime == "keras"
    for onnx in (fresh_cache / "frozen_onnx").iterdir():
        onnx.unlink()

    def broken(model, path):
        raise ValueError("tf2onnx could not convert a layer")

    monkeypatch.setattr(frozen_runtime, "_converted", broken)
    with pytest.warns(CourseWarning, match="could not convert a layer"):
        assert frozen_runtime.frozen_runner(model, "onnx").runtime == "keras"


def test_features_of_each_runtime_agree_and_keep_their_own_entries(colour_folder, fresh_cache):
    split = folder_splits(colour_folder).train
    options = dict(image_size=SIZE, verbose=False)
    on_keras = extract_features("efficientnet_lite0", split, runtime="keras", **options)
    on_onnx = extract_features("efficientnet_lite0", split, runtime="onnx", **options)
    assert not on_keras.from_cache and not on_onnx.from_cache, (
        "one runtime's entry is not the other's"
    )
    np.testing.assert_allclose(on_onnx.features, on_keras.features, atol=1e-3)
    for runtime in ("keras", "onnx"):
        key = cache_key("efficientnet_lite0", "imagenet", (SIZE, SIZE), split, runtime)
        assert (config.cache_dir() / "features" / f"{key}.npz").exists()
        assert extract_features("efficientnet_lite0", split, runtime=runtime, **options).from_cache
    with_maps = extract_features("efficientnet_lite0", split, runtime="onnx", maps=True, **options)
    assert with_maps.maps is not None and not with_maps.from_cache
    np.testing.assert_allclose(with_maps.features, on_keras.features, atol=1e-3)


def test_activations_and_their_mirror_images_agree_across_runtimes(colour_folder, fresh_cache):
    split = folder_splits(colour_folder).train
    parts = split_backbone(build_backbone("efficientnet_lite0", (SIZE, SIZE)), 3)
    on_keras = extract_activations(parts, split, verbose=False, runtime="keras")
    on_onnx = extract_activations(parts, split, verbose=False, runtime="onnx")
    assert not on_onnx.from_cache
    # float16 storage: compare at its precision
    np.testing.assert_allclose(on_onnx.activations, on_keras.activations, atol=2e-2, rtol=1e-2)
    np.testing.assert_allclose(on_onnx.flipped, on_keras.flipped, atol=2e-2, rtol=1e-2)
    assert not np.allclose(on_onnx.flipped, on_onnx.activations), "the mirror images differ"
    assert extract_activations(parts, split, verbose=False, runtime="onnx").from_cache
