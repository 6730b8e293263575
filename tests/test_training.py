"""Feature cache, head training, recipes and fine-tuning (strategies: ``test_distributed.py``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tl_helpers.data import split_class_folders
from tl_helpers.data.folders import folder_splits
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.errors import CourseError
from tl_helpers.evaluation import evaluate
from tl_helpers.models import (
    StaleCompileError,
    build_classifier,
    compile_classifier,
    parameter_counts,
    probabilities,
)
from tl_helpers.training import (
    FeatureSet,
    TrainingHistory,
    balanced_class_weights,
    cache_key,
    classifier_from_head,
    extract_features,
    feature_extraction,
    fine_tune,
    fit,
    recipes,
    train_head,
)

SIZE = 64


def _blobs(n_per_class=40, classes=2, dims=16, seed=0):
    """Separable features: each class is a Gaussian blob around its own centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (classes, dims))  # pooled ImageNet features are small numbers too
    labels = np.repeat(np.arange(classes), n_per_class).astype(np.int32)
    features = (centres[labels] + rng.normal(0, 0.5, (len(labels), dims))).astype(np.float32)
    return FeatureSet(features, labels, tuple(f"f{i}.jpg" for i in range(len(labels))))


def test_features_are_cached_and_reused(colour_folder, fresh_cache):
    splits = folder_splits(colour_folder)
    first = extract_features("efficientnet_lite0", splits.train, image_size=SIZE, verbose=False)
    assert first.features.shape == (len(splits.train), 1280) and not first.from_cache
    second = extract_features("efficientnet_lite0", splits.train, image_size=SIZE, verbose=False)
    assert second.from_cache
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(second.labels, np.asarray(splits.train.labels))


def test_one_pass_gives_the_maps_and_the_pooled_features(colour_folder, fresh_cache):
    split = folder_splits(colour_folder).validation
    both = extract_features("efficientnet_lite0", split, image_size=SIZE, maps=True, verbose=False)
    assert not both.from_cache and both.maps is not None
    assert both.maps.shape[:1] == (len(split),) and both.maps.ndim == 4
    np.testing.assert_allclose(both.maps.astype(np.float32).mean(axis=(1, 2)), both.features,
                               rtol=1e-2, atol=1e-3)  # fmt: skip
    pooled_only = extract_features("efficientnet_lite0", split, image_size=SIZE, verbose=False)
    assert pooled_only.from_cache and pooled_only.maps is None, "the maps' entry serves it"
    np.testing.assert_array_equal(pooled_only.features, both.features)
    direct = extract_features(
        "efficientnet_lite0", split, image_size=SIZE, use_cache=False, verbose=False
    )
    np.testing.assert_allclose(direct.features, both.features, rtol=1e-5, atol=1e-5)
    again = extract_features("efficientnet_lite0", split, image_size=SIZE, maps=True, verbose=False)
    assert again.from_cache
    np.testing.assert_array_equal(again.maps, both.maps)


def _key(split, size=SIZE, backbone="efficientnet_lite0"):
    return cache_key(backbone, "imagenet", (size, size), split)


def test_cache_key_changes_with_everything_that_changes_features(colour_folder):
    splits = folder_splits(colour_folder)
    key = _key(splits.train)
    assert key == _key(splits.train)
    assert key != _key(splits.train, size=SIZE + 32)
    assert key != _key(splits.train, backbone="mobilenet_v2")
    assert key != _key(splits.validation)
    with pytest.raises(CourseError, match="randomly initialised"):
        cache_key("efficientnet_lite0", None, (SIZE, SIZE), splits.train)


def test_cache_key_is_the_content_not_the_place_or_the_time(colour_folder, tmp_path):
    splits = folder_splits(colour_folder)
    key = _key(splits.train)
    copied = tmp_path / "elsewhere"
    shutil.copytree(colour_folder, copied)  # new paths and new modification times
    for path in copied.rglob("*.png"):
        os.utime(path, ns=(1, 10**18))
    assert _key(folder_splits(copied).train) == key, "the same photos elsewhere share the entry"


def test_one_changed_pixel_misses_the_cache_even_with_the_old_time(colour_folder):
    splits = folder_splits(colour_folder)
    key = _key(splits.train)
    photo = splits.train.files[3]
    before = photo.stat()
    pixels = np.asarray(Image.open(photo)).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(photo)
    os.utime(photo, ns=(before.st_atime_ns, before.st_mtime_ns))  # as if it never changed
    assert photo.stat().st_mtime_ns == before.st_mtime_ns
    assert _key(splits.train) != key


def test_one_edited_line_of_feature_code_misses_the_cache(colour_folder, tmp_path, monkeypatch):
    import tl_helpers.training.cached_pass as cached_pass

    assert {"tl_helpers.data.decode", "tl_helpers.backbones.efficientnet_lite"} <= set(
        cached_pass.FEATURE_CODE
    )
    module = tmp_path / "resize_code_for_the_test.py"
    source = (Path(cached_pass.__file__).parents[1] / "data" / "decode.py").read_text()
    module.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cached_pass, "FEATURE_CODE", (*cached_pass.FEATURE_CODE, module.stem))
    split = folder_splits(colour_folder).train
    key = _key(split)
    module.write_text(source.replace("RESIZE_ANTIALIAS = False", "RESIZE_ANTIALIAS = True"))
    assert _key(split) != key
    module.write_text(source)
    assert _key(split) == key


def test_another_library_version_misses_the_cache(colour_folder, monkeypatch):
    import importlib.metadata

    split = folder_splits(colour_folder).train
    key = _key(split)
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "0.0.1" if name == "numpy" else real(name)
    )
    assert _key(split) != key
    monkeypatch.setattr(importlib.metadata, "version", real)
    assert _key(split) == key


def test_fingerprinted_code_must_exist():
    from tl_helpers.training import code_fingerprint

    with pytest.raises(ModuleNotFoundError, match="no_such_module_anywhere"):
        code_fingerprint(("no_such_module_anywhere",))


def test_head_learns_separable_features():
    train, validation = _blobs(seed=0), _blobs(n_per_class=20, seed=0)
    head, history = train_head(
        train, validation, 2, learning_rate=1e-2, epochs=60, patience=60, verbose=False
    )
    assert history.best("val_accuracy") >= 0.95
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    probs = probabilities(head, validation.features)
    assert probs.shape == (40, 2) and np.mean(probs.argmax(1) == validation.labels) >= 0.95


def test_balanced_class_weights_make_every_class_count_the_same():
    weights = balanced_class_weights([0] * 30 + [1] * 10 + [2] * 20)
    assert weights == pytest.approx({0: 60 / 90, 1: 60 / 30, 2: 60 / 60})
    assert 30 * weights[0] == pytest.approx(10 * weights[1]) == pytest.approx(20 * weights[2])
    with pytest.raises(CourseError, match="at least two classes"):
        balanced_class_weights([1, 1, 1])


@pytest.mark.slow
def test_class_weights_raise_the_recall_of_a_rare_class():
    rng = np.random.default_rng(3)

    def overlapping(count_0, count_1):
        labels = np.r_[np.zeros(count_0, np.int32), np.ones(count_1, np.int32)]
        features = (
            np.where(labels[:, None] == 1, 0.6, -0.6) + rng.normal(0, 1.0, (len(labels), 4))
        ).astype(np.float32)
        return FeatureSet(features, labels, ())

    # Validation as imbalanced as training (early stopping watches it); recall measured on balanced data.
    train, validation, test = overlapping(300, 12), overlapping(300, 12), overlapping(200, 200)
    recall = {}
    for name, weights in [("plain", None), ("balanced", balanced_class_weights(train.labels))]:
        head, _ = train_head(
            train,
            validation,
            2,
            learning_rate=1e-2,
            epochs=60,
            patience=60,
            verbose=False,
            class_weight=weights,
        )
        predicted = probabilities(head, test.features).argmax(1)
        recall[name] = np.mean(predicted[test.labels == 1] == 1)
    assert recall["balanced"] > recall["plain"] + 0.2, recall


def test_early_stopping_ends_training_and_restores_the_best_weights():
    train = _blobs(seed=0)
    # Validation labels unrelated to the features: validation loss soon rises, training must stop.
    noise = _blobs(n_per_class=20, seed=0)
    noise.labels = np.random.default_rng(5).permutation(noise.labels)
    head, history = train_head(train, noise, 2, epochs=300, patience=3, verbose=False)
    assert history.epochs < 300
    best_epoch = int(np.argmin(history.history["val_loss"]))
    assert history.epochs - 1 - best_epoch == 3, "stops `patience` epochs after the best one"
    restored = head.evaluate(noise.features, noise.labels, verbose=0)[0]
    assert restored == pytest.approx(min(history.history["val_loss"]), rel=1e-4), (
        "the best weights are restored"
    )


def test_head_training_is_reproducible_with_the_same_seed():
    train, validation = _blobs(classes=3, seed=1), _blobs(classes=3, n_per_class=10, seed=1)
    weights = []
    for _ in range(2):
        head, _ = train_head(train, validation, 3, epochs=5, verbose=False, seed=11)
        weights.append(head.layers[-1].get_weights()[0])
    np.testing.assert_array_equal(*weights)


def test_epochs_must_be_positive():
    with pytest.raises(CourseError, match="epochs"):
        train_head(_blobs(), _blobs(), 2, epochs=0, verbose=False)


def test_epoch_line_is_compact(capsys):
    train_head(_blobs(), _blobs(n_per_class=10), 2, epochs=2, patience=5, verbose=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert len(lines) == 2 and "val_accuracy" in lines[0] and lines[0].startswith("head epoch   1")


@pytest.mark.slow
def test_fast_recipe_never_touches_the_test_split(colour_folder, monkeypatch):
    splits = split_class_folders(
        colour_folder, ["blue_things", "green_things", "red_things"], (0.5, 0.25, 0.25)
    )
    seen = []
    original = recipes.extract_features
    monkeypatch.setattr(
        recipes,
        "extract_features",
        lambda backbone, split, **kw: seen.append(split) or original(backbone, split, **kw),
    )
    result = feature_extraction(splits, image_size=SIZE, epochs=30, verbose=False)
    assert seen == [splits.train, splits.validation]
    assert result.history.best() >= 0.9, "colour classes are easy for ImageNet features"
    assert result.seconds["head"] > 0
    # The kept head is the lowest-validation-loss epoch's; its accuracy is measured, not the best seen.
    kept = result.validation_accuracy()
    predicted = (
        result.classifier()
        .predict(
            np.concatenate(
                [x.numpy() for x, _ in make_dataset(splits.validation, image_size=(SIZE, SIZE))]
            ),
            verbose=0,
        )
        .argmax(1)
    )
    assert kept == pytest.approx(np.mean(predicted == np.asarray(splits.validation.labels)))
    assert kept <= result.history.best()


@pytest.mark.slow
def test_classifier_from_head_gives_the_same_probabilities(colour_folder):
    splits = folder_splits(colour_folder)
    result = feature_extraction(splits, image_size=SIZE, epochs=5, verbose=False)
    model = result.classifier()
    images = np.concatenate(
        [x.numpy() for x, _ in make_dataset(splits.validation, image_size=(SIZE, SIZE))]
    )
    np.testing.assert_allclose(
        probabilities(model, images),
        probabilities(result.head, result.validation.features),
        atol=1e-5,
    )
    assert classifier_from_head(
        result.head, "efficientnet_lite0", splits.class_names, SIZE
    ).output_shape == (None, 3)
    # The head on the split's cached features reports what the classifier on its images does.
    on_features = result.evaluate(splits.validation)
    on_images = evaluate(model, splits.validation)
    np.testing.assert_allclose(on_features.probabilities, on_images.probabilities, atol=1e-5)
    assert on_features.files == on_images.files and on_features.class_names == splits.class_names


def test_fit_refuses_a_stale_compile(colour_folder):
    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 3, image_size=SIZE)
    data = make_dataset(splits.train, image_size=(SIZE, SIZE))
    with pytest.raises(StaleCompileError):
        fit(model, data, data, epochs=1, verbose=False)


@pytest.mark.slow
def test_fine_tune_recompiles_and_joins_histories(colour_folder, capsys):
    splits = folder_splits(colour_folder)
    model = build_classifier(
        "efficientnet_lite0", 3, class_names=splits.class_names, image_size=SIZE
    )
    compile_classifier(model, 1e-2)
    train = make_dataset(splits.train, image_size=(SIZE, SIZE), shuffle=True)
    validation = make_dataset(splits.validation, image_size=(SIZE, SIZE))
    history = fit(model, train, validation, epochs=2, early_stopping=False, verbose=False)
    frozen = parameter_counts(model).trainable
    history = fine_tune(model, train, validation, blocks=2, epochs=2, history=history, verbose=True)
    assert "recompiled with learning rate 1e-05" in capsys.readouterr().out
    assert parameter_counts(model).trainable > frozen
    assert history.fine_tune_start == 2 and history.epochs == 4
    assert len(history.history["val_loss"]) == 4


def test_history_joins_phases():
    history = TrainingHistory().extend({"loss": [3, 2], "val_loss": [3, 2.5]})
    history.extend({"loss": [1], "val_loss": [2]}, fine_tuning=True)
    assert (
        history.history["loss"] == [3.0, 2.0, 1.0]
        and history.fine_tune_start == 2
        and history.epochs == 3
    )
