"""Fine-tuning on cached activations: the cut, the cache, the augmentation and the recipe."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tl_helpers.backbones import REGISTRY, build_backbone, list_blocks
from tl_helpers.data.folders import folder_splits
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.errors import CourseError
from tl_helpers.models import classifier_parts, find_backbone
from tl_helpers.training import (
    ActivationSet,
    activation_dataset,
    backbone_section,
    extract_activations,
    fast_fine_tune,
    feature_extraction,
    pooled_features,
    split_backbone,
)

SIZE = 64


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_bottom_then_top_equals_the_whole_base(name):
    base = build_backbone(name, (SIZE, SIZE), weights=None)
    parts = split_backbone(base, 2)
    bottom, top = parts.bottom, parts.top
    assert parts.blocks == 2 and parts.spec.name == name and parts.image_size == (SIZE, SIZE)
    assert parts.cut == base.layers[[i for _, i in list_blocks(base)][-2]].name
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    expected = base(images, training=False).numpy()
    np.testing.assert_allclose(
        top(bottom(images, training=False), training=False).numpy(), expected, rtol=1e-4, atol=1e-4
    )
    # The top is made of the base's own layers: training it trains the base.
    base_layers = {id(layer) for layer in base.layers}
    assert all(id(layer) in base_layers for layer in top.layers[1:])


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2"])
def test_a_section_turns_a_lower_cut_into_a_higher_one(name):
    base = build_backbone(name, (SIZE, SIZE), weights=None)
    five, two = split_backbone(base, 5), split_backbone(base, 2)
    bottom5, top5, bottom2, top2 = five.bottom, five.top, two.bottom, two.top
    section = backbone_section(base, 5, 2)
    images = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    lower = bottom5(images, training=False)
    np.testing.assert_allclose(
        section(lower, training=False).numpy(),
        bottom2(images, training=False).numpy(),
        rtol=1e-4,
        atol=1e-4,
    )
    np.testing.assert_allclose(
        top2(section(lower)).numpy(), top5(lower).numpy(), rtol=1e-4, atol=1e-4
    )
    with pytest.raises(CourseError, match="from_blocks > to_blocks"):
        backbone_section(base, 2, 5)


def test_cut_must_leave_something_on_both_sides():
    base = build_backbone("efficientnet_lite0", (SIZE, SIZE), weights=None)
    with pytest.raises(CourseError, match="blocks must be between 1"):
        split_backbone(base, 0)
    with pytest.raises(CourseError, match="blocks must be between 1"):
        split_backbone(base, 99)


def test_activations_are_cached_with_their_mirror_images(colour_folder, fresh_cache):
    splits = folder_splits(colour_folder)
    base = build_backbone("efficientnet_lite0", (SIZE, SIZE))
    parts = split_backbone(base, 3)
    bottom = parts.bottom
    first = extract_activations(parts, splits.train, verbose=False)
    assert not first.from_cache and len(first) == len(splits.train)
    images = next(
        iter(make_dataset(splits.train, image_size=(SIZE, SIZE), batch_size=4, cache=False))
    )[0]
    np.testing.assert_allclose(first.activations[:4], bottom(images).numpy(), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(
        first.flipped[:4], bottom(tf.image.flip_left_right(images)).numpy(), rtol=1e-2, atol=1e-2
    )
    again = extract_activations(parts, splits.train, verbose=False)
    assert again.from_cache
    np.testing.assert_array_equal(again.flipped, first.flipped)
    # A different cut is a different cache entry, not a stale hit.
    elsewhere = extract_activations(split_backbone(base, 2), splits.train, verbose=False)
    assert first.cut == "block13_expand_conv" and elsewhere.cut == "block14_expand_conv"
    assert not elsewhere.from_cache


def _toy_activations(n=16):
    rng = np.random.default_rng(1)
    plain = rng.normal(size=(n, 4, 4, 3)).astype(np.float16)
    return ActivationSet(
        plain, -plain, np.arange(n, dtype=np.int32) % 2, tuple(f"{i}.jpg" for i in range(n)), "cut"
    )


def _epoch(dataset):
    return np.concatenate([x.numpy() for x, _ in dataset])


def test_augmentation_is_drawn_afresh_each_epoch_and_the_same_each_run():
    acts = _toy_activations()
    dataset = activation_dataset(acts, 2, binary=True, batch_size=4, augment=True, seed=3)
    first, second = _epoch(dataset), _epoch(dataset)
    assert not np.array_equal(first, second)
    rerun = activation_dataset(acts, 2, binary=True, batch_size=4, augment=True, seed=3)
    np.testing.assert_array_equal(_epoch(rerun), first)
    # Every example is either an original or its mirror, never anything else, and both occur.
    originals = {
        acts.activations[i].astype(np.float32).tobytes(): "plain" for i in range(len(acts))
    }
    originals.update(
        {acts.flipped[i].astype(np.float32).tobytes(): "mirror" for i in range(len(acts))}
    )
    kinds = [originals.get(example.tobytes()) for example in first]
    assert None not in kinds and set(kinds) == {"plain", "mirror"}


def test_crop_and_targets():
    acts = _toy_activations()
    x, y = next(iter(activation_dataset(acts, 2, binary=True, batch_size=4, augment=True, crop=1)))
    assert x.shape == (4, 3, 3, 3) and y.shape == (4, 1)
    x, y = next(iter(activation_dataset(acts, 3, binary=False, batch_size=4)))
    assert x.shape == (4, 4, 4, 3) and y.shape == (4, 3)
    np.testing.assert_array_equal(x.numpy(), acts.activations[:4].astype(np.float32))
    with pytest.raises(CourseError, match="crop must be smaller"):
        activation_dataset(acts, 2, binary=True, augment=True, crop=4)


def _prepared(colour_folder, blocks=2, epochs=3):
    splits = folder_splits(colour_folder)
    extracted = feature_extraction(splits, image_size=SIZE, epochs=epochs, verbose=False)
    model = extracted.classifier()
    parts = split_backbone(find_backbone(model), blocks)
    train = extract_activations(parts, splits.train, verbose=False)
    validation = extract_activations(parts, splits.validation, flips=False, verbose=False)
    return splits, extracted, model, parts.top, train, validation


@pytest.mark.slow
def test_pooled_features_match_extract_features(colour_folder):
    splits, extracted, _model, top, train, _validation = _prepared(colour_folder)
    pooled = pooled_features(top, train)
    np.testing.assert_allclose(pooled.features, extracted.train.features, rtol=0.02, atol=0.02)
    np.testing.assert_array_equal(pooled.labels, extracted.train.labels)
    doubled = pooled_features(top, train, mirrored=True)
    assert len(doubled) == 2 * len(train) and doubled.files[len(train)] == train.files[0]
    without = ActivationSet(train.activations, None, train.labels, train.files, train.cut)
    with pytest.raises(CourseError, match="without mirror images"):
        pooled_features(top, without, mirrored=True)


@pytest.mark.slow
def test_fast_fine_tune_trains_the_top_blocks_of_the_real_classifier(colour_folder):
    splits, extracted, model, _top, train, validation = _prepared(colour_folder)
    base = find_backbone(model)
    watched = [
        "head_conv",
        "block15_project_conv",
        "block13_project_conv",
        "stem_conv",
        "head_bn",
        "block15_project_bn",
    ]
    before = {name: [w.copy() for w in base.get_layer(name).get_weights()] for name in watched}
    history = fast_fine_tune(
        model,
        train,
        validation,
        blocks=2,
        epochs=2,
        crop=1,
        history=extracted.history,
        verbose=False,
    )

    def changed(name):
        return any(
            not np.array_equal(a, b)
            for a, b in zip(before[name], base.get_layer(name).get_weights())
        )

    assert changed("head_conv") and changed("block15_project_conv")  # the top two blocks trained
    assert not changed("block13_project_conv") and not changed(
        "stem_conv"
    )  # everything below did not
    assert not changed("head_bn") and not changed(
        "block15_project_bn"
    )  # BatchNorm statistics are untouched
    assert history.fine_tune_start == 3 and history.epochs == 5
    # The classifier takes images and agrees with the path the training used.
    images = next(
        iter(make_dataset(splits.validation, image_size=(SIZE, SIZE), batch_size=8, cache=False))
    )[0]
    parts = split_backbone(base, 2)
    pooled = keras.layers.GlobalAveragePooling2D()(
        parts.top(parts.bottom(images, training=False), training=False)
    )
    via_parts = classifier_parts(model).head(pooled, training=False).numpy()
    np.testing.assert_allclose(
        model(images, training=False).numpy(), via_parts, rtol=1e-4, atol=1e-5
    )


@pytest.mark.slow
def test_fast_fine_tune_rejects_bad_arguments(colour_folder):
    _splits, _extracted, model, _top, train, validation = _prepared(colour_folder, epochs=1)
    with pytest.raises(CourseError, match="epochs must be at least 1"):
        fast_fine_tune(model, train, validation, blocks=2, epochs=0, verbose=False)
    with pytest.raises(CourseError, match="cut before block14_expand_conv, but blocks=3"):
        fast_fine_tune(model, train, validation, blocks=3, verbose=False)
    with pytest.raises(CourseError, match="blocks must be between 1"):
        fast_fine_tune(model, train, validation, blocks=0, verbose=False)


@pytest.mark.slow
def test_activation_dataset_gives_the_stored_values_exactly_and_quietly():
    """float16 activations travel as raw bits (no oneDNN notice) and come out as the same numbers in float32."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np
        from tl_helpers.startup import import_tensorflow
        import_tensorflow()
        from tl_helpers.training import ActivationSet, activation_dataset
        rng = np.random.default_rng(0)
        acts = (rng.standard_normal((6, 5, 5, 3)) * 100).astype(np.float16)
        stored = ActivationSet(acts, acts[:, :, ::-1], np.arange(6) % 3, tuple(), "block15")
        batches = [x.numpy() for x, _ in activation_dataset(stored, 3, binary=False, batch_size=4)]
        assert np.array_equal(np.concatenate(batches), acts.astype(np.float32))
        mixed = [x.numpy() for x, _ in activation_dataset(stored, 3, binary=False, augment=True, batch_size=6)][0]
        assert all(any(np.array_equal(row, option[i].astype(np.float32)) for option in (acts, acts[:, :, ::-1]) for i in range(6)) for row in mixed)
        print("ok")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert "util.cc" not in result.stderr and "oneDNN" not in result.stderr, result.stderr
