"""Exporting classifiers (SavedModel, LiteRT with each quantization, ONNX) and running them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import write_image
from tl_helpers.data.decode import load_image
from tl_helpers.data.splits import Split
from tl_helpers.deploy.export import (
    EXPORT_VARIANTS,
    ExportError,
    calibration_photos,
    export_all,
    export_classifier,
    probability_model,
)
from tl_helpers.deploy.metadata import read_model_info
from tl_helpers.deploy.runtimes import is_exported_model, load_exported
from tl_helpers.errors import CourseError, UnknownNameError
from tl_helpers.evaluation import evaluate
from tl_helpers.models import ClassLabels, probabilities

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["blue_things", "green_things", "red_things"]
SIZE = 32


def colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images with one bright channel; the label is the bright channel (blue, green, red)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 90, size=(count, SIZE, SIZE, 3)).astype(np.float32)
    for index, label in enumerate(labels):
        images[index, ..., 2 - label] = rng.integers(160, 256, size=(SIZE, SIZE))
    return images, labels


def tiny_classifier(classes: list[str]) -> keras.Model:
    """A small real classifier in the course's contract: 0-255 images in, preprocessing inside,
    class names in a ClassLabels layer; trained until it separates the colours."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.Conv2D(128, 3, strides=2, activation="relu")(x)  # enough weights to weigh
    x = keras.layers.GlobalAveragePooling2D()(x)
    units, activation = (1, "sigmoid") if len(classes) == 2 else (len(classes), "softmax")
    x = keras.layers.Dense(units, activation=activation)(x)
    model = keras.Model(inputs, ClassLabels(classes, name="class_labels")(x))
    images, labels = colour_images(90, seed=1)
    if len(classes) == 2:
        labels = (labels == 2).astype(np.float32)
        loss = "binary_crossentropy"
    else:
        loss = "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.Adam(0.05), loss)
    model.fit(images, labels, epochs=30, verbose=0)
    return model


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return tiny_classifier(CLASSES)


@pytest.fixture(scope="module")
def exports(model: keras.Model, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("exports")
    images, labels = colour_images(60, seed=2)
    train = folder / "train"
    files = []
    for index, (image, label) in enumerate(zip(images, labels)):
        path = train / CLASSES[label] / f"{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(path)
        files.append(path)
    return export_all(model, folder / "out", train, name="colours"), train


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
@pytest.mark.parametrize("variant", EXPORT_VARIANTS, ids=lambda v: "-".join(v))
def test_every_format_round_trips_with_its_class_names_and_the_keras_predictions(
    variant, model, exports
):
    exported = {(e.info.format, e.info.quantize): e for e in exports[0]}[variant]
    runner = load_exported(exported.path)
    assert runner.class_names == CLASSES and runner.image_size == (SIZE, SIZE)
    assert exported.info.format == variant[0] and exported.info.quantize == variant[1]
    images, _ = colour_images(24, seed=3)
    expected = probabilities(model, images)
    got = runner.probabilities(images, batch_size=10)  # batches of 10, 10 and 4: resized inputs
    assert got.shape == expected.shape
    agreement = np.mean(got.argmax(1) == expected.argmax(1))
    if variant[1] in ("none", "float16"):
        assert agreement == 1.0
        tolerance = 1e-5 if variant[1] == "none" else 5e-3
        assert np.abs(got - expected).max() < tolerance
    else:
        assert agreement >= 0.95


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
def test_sizes_shrink_with_quantization(exports):
    sizes = {e.info.quantize: e.size_bytes for e in exports[0] if e.info.format == "litert"}
    assert sizes["float16"] < 0.6 * sizes["none"]
    assert sizes["dynamic"] < sizes["float16"] and sizes["int8"] < sizes["float16"]


def test_a_two_class_model_exports_one_column_per_class(tmp_path):
    binary = tiny_classifier(["other", "red_things"])
    assert probability_model(binary).output_shape == (None, 2)
    exported = export_classifier(binary, tmp_path / "binary.onnx", format="onnx")
    images, _ = colour_images(12, seed=4)
    got = load_exported(exported.path).probabilities(images)
    p = binary.predict(images, verbose=0)
    np.testing.assert_allclose(got, np.concatenate([1 - p, p], axis=1), atol=1e-5)


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
def test_tl_probabilities_and_evaluate_accept_an_exported_model(exports, tmp_path):
    exported = next(e for e in exports[0] if e.info.format == "onnx")
    runner = load_exported(exported.path)
    train = exports[1]
    files = sorted(train.rglob("*.png"))
    split = Split(tuple(files), tuple(CLASSES.index(f.parent.name) for f in files))
    report = evaluate(runner, split)
    assert report.class_names == tuple(CLASSES) and report.accuracy > 0.9
    images, _ = colour_images(6, seed=5)
    assert probabilities(runner, images, tta=True).shape == (6, 3)


def test_predict_on_batch_gives_model_predicts_numbers(model):
    images, _ = colour_images(70, seed=6)  # three chunks of 32, 32 and 6
    np.testing.assert_allclose(
        probabilities(model, images), model.predict(images, verbose=0), atol=1e-6
    )


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
def test_calibration_photos_are_spread_over_every_class_and_the_same_each_time(exports):
    train = exports[1]
    chosen = calibration_photos(train, CLASSES, count=9)
    assert len(chosen) == 9 and chosen == calibration_photos(train, CLASSES, count=9)
    assert {p.parent.name for p in chosen} == set(CLASSES)
    split = Split(tuple(sorted(train.rglob("*.png"))), (0,) * 60)
    assert len(calibration_photos(split, CLASSES, count=500)) == 60


# --- bad input: a clear message, nothing half-written ---------------------------------------


@pytest.mark.parametrize(
    ("out", "options", "message"),
    [
        ("m.tflite", {"format": "tflite"}, "unknown export format 'tflite'"),
        ("m.tflite", {"format": "litert", "quantize": "int4"}, "unknown quantization 'int4'"),
        ("m.onnx", {"format": "onnx", "quantize": "int8"}, "is for LiteRT only"),
        ("m.tflite", {"format": "litert", "quantize": "int8"}, "give --calibration DATA_DIR"),
        ("m.onnx", {"format": "litert"}, "ending in .tflite"),
        ("m.keras", {"format": "saved_model"}, "a SavedModel is a folder"),
        ("missing/m.tflite", {"format": "litert"}, "does not exist: create it first"),
    ],
)
def test_an_export_that_cannot_be_done_says_why(model, tmp_path, out, options, message):
    with pytest.raises(CourseError, match=message):
        export_classifier(model, tmp_path / out, **options)
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_lists_the_valid_ones(model, tmp_path):
    with pytest.raises(UnknownNameError, match="litert, onnx, saved_model"):
        export_classifier(model, tmp_path / "m.x", format="x")


def test_calibration_folder_with_other_classes_or_no_images_is_refused(model, tmp_path):
    for index in range(3):
        write_image(tmp_path / "pets" / "cats" / f"{index}.png", seed=index)
        write_image(tmp_path / "pets" / "dogs" / f"{index}.png", seed=index + 9)
    with pytest.raises(ExportError, match=r"has classes \['cats', 'dogs'\], but the model"):
        export_classifier(
            model, tmp_path / "m.tflite", format="litert", quantize="int8",
            calibration=tmp_path / "pets",
        )  # fmt: skip
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="calibration folder: .* has no class folders"):
        export_classifier(
            model, tmp_path / "m.tflite", format="litert", quantize="int8",
            calibration=tmp_path / "empty",
        )  # fmt: skip
    assert not (tmp_path / "m.tflite").exists()


def test_a_failed_export_leaves_nothing_and_keeps_the_previous_file(model, tmp_path, monkeypatch):
    out = export_classifier(model, tmp_path / "m.tflite", format="litert").path
    before = out.read_bytes()

    def broken_export(self, *args, **kwargs):
        Path(args[0]).write_bytes(b"half a model")
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-conversion

    monkeypatch.setattr(keras.Model, "export", broken_export)
    with pytest.raises(KeyboardInterrupt):  # cache=False: the cached copy would not convert
        export_classifier(model, out, format="litert", cache=False)
    with pytest.raises(KeyboardInterrupt):
        export_classifier(model, tmp_path / "new.tflite", format="litert", cache=False)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


def test_re_exporting_a_saved_model_replaces_the_folder(model, tmp_path):
    first = export_classifier(model, tmp_path / "sm", format="saved_model")
    (first.path / "stale.txt").write_text("from before")
    again = export_classifier(model, tmp_path / "sm", format="saved_model")
    assert (
        not (again.path / "stale.txt").exists()
        and read_model_info(again.path).format == "saved_model"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm"]


def test_files_that_are_not_exported_models_are_refused_by_name(tmp_path):
    (tmp_path / "bad.tflite").write_bytes(b"not a flatbuffer at all")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    (tmp_path / "folder").mkdir()
    (tmp_path / "photo.jpg").write_bytes(b"")
    for name, message in [
        ("bad.tflite", "is not a LiteRT model"),
        ("bad.onnx", "is not an ONNX model"),
        ("folder", "carries no tl_helpers record"),
        ("photo.jpg", "not an exported model"),
        ("absent.onnx", "no exported model at"),
    ]:
        with pytest.raises(CourseError, match=message):
            load_exported(tmp_path / name)
    assert is_exported_model(tmp_path / "a.tflite") and not is_exported_model(tmp_path / "m.keras")


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
def test_images_of_the_wrong_size_are_refused_with_the_fix(exports):
    runner = load_exported(exports[0][1].path)
    with pytest.raises(
        CourseError, match=r"do not fit colours_float32.tflite.*load_image\(path, \(32, 32\)\)"
    ):
        runner.probabilities(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(CourseError, match=r"image\[None\]"):
        runner.probabilities(np.zeros((SIZE, SIZE, 3), np.float32))


# --- the command line --------------------------------------------------------------------------


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tl_helpers", *arguments],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
def test_export_command_then_predict_and_evaluate_with_each_runtime(model, exports, tmp_path):
    from tl_helpers.models import save_classifier

    keras_file = save_classifier(model, tmp_path / "colours.keras")
    train = exports[1]
    result = run_cli(
        "export", str(keras_file), "--format", "litert", "--quantize", "int8",
        "--calibration", str(train), "--out", str(tmp_path / "colours.tflite"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "recorded inside the model" in result.stdout and result.stderr == ""
    assert (
        run_cli(
            "export", str(keras_file), "--format", "onnx", "--out", str(tmp_path / "c.onnx")
        ).returncode
        == 0
    )
    photos = [str(p) for p in sorted(train.rglob("*.png"))[:4]]
    reference = json.loads(run_cli("predict", str(keras_file), *photos, "--json").stdout)
    onnx = json.loads(run_cli("predict", str(tmp_path / "c.onnx"), *photos, "--json").stdout)
    for ours, theirs in zip(reference["predictions"], onnx["predictions"]):
        assert ours["predicted"] == theirs["predicted"]
        for name in CLASSES:
            assert abs(ours["probabilities"][name] - theirs["probabilities"][name]) < 1e-5
    evaluated = run_cli("evaluate", str(tmp_path / "colours.tflite"), str(train), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] > 0.9


@pytest.mark.slow  # uses the exported files of every format, or starts the command line
def test_export_command_errors_are_one_line_without_traceback(model, tmp_path, image_folder):
    from tl_helpers.models import save_classifier

    keras_file = save_classifier(model, tmp_path / "colours.keras")
    missing = run_cli(
        "export", str(keras_file), "--format", "litert", "--out", str(tmp_path / "no/m.tflite")
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("error: the folder") and "does not exist" in missing.stderr
    not_a_model = run_cli(
        "export",
        str(image_folder / "ants" / "ants_000.jpg"),
        "--format",
        "onnx",
        "--out",
        str(tmp_path / "m.onnx"),
    )
    assert not_a_model.returncode == 2 and "is not a .keras model file" in not_a_model.stderr
    bad_format = run_cli(
        "export", str(keras_file), "--format", "tflite", "--out", str(tmp_path / "m.tflite")
    )
    assert bad_format.returncode == 2 and "invalid choice: 'tflite'" in bad_format.stderr
    exported = run_cli(
        "export", str(keras_file), "--format", "onnx", "--out", str(tmp_path / "m.onnx")
    )
    assert exported.returncode == 0, exported.stderr
    other_classes = run_cli("evaluate", str(tmp_path / "m.onnx"), str(image_folder))
    assert other_classes.returncode == 2 and "Traceback" not in other_classes.stderr
    assert "has classes ['ants', 'bees', 'wasps'] but" in other_classes.stderr


def test_the_same_export_again_is_a_copy_from_the_cache_and_any_change_misses(
    model, tmp_path, fresh_cache, monkeypatch
):
    from tl_helpers.deploy import cache as export_cache

    conversions = []
    real_export = keras.Model.export

    def counted_export(self, *args, **kwargs):
        conversions.append(kwargs.get("format"))
        return real_export(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "export", counted_export)
    first = export_classifier(model, tmp_path / "a.tflite", format="litert")
    again = export_classifier(model, tmp_path / "b.tflite", format="litert")
    assert conversions == ["litert"], "the second export must come from the cache"
    assert again.path.read_bytes() == first.path.read_bytes()
    assert load_exported(again.path).class_names == CLASSES
    assert len(list((fresh_cache / "exports").iterdir())) == 1

    export_classifier(model, tmp_path / "c.tflite", format="litert", cache=False)
    assert conversions == ["litert"] * 2, "cache=False converts"
    export_classifier(model, tmp_path / "d.tflite", format="litert", quantize="float16")
    assert len(conversions) == 3, "another quantization is another entry"

    changed = keras.models.clone_model(model)
    changed.set_weights(model.get_weights())
    key = export_cache.export_key(changed, "litert", "none", [], "")
    assert key == export_cache.export_key(model, "litert", "none", [], ""), "same weights, same key"
    weights = changed.get_weights()
    weights[-1] = weights[-1] + np.float32(1e-6)  # one bias, one millionth
    changed.set_weights(weights)
    assert export_cache.export_key(changed, "litert", "none", [], "") != key
    monkeypatch.setattr(export_cache, "EXPORT_LIBRARIES", ("numpy",))  # as if a library changed
    assert export_cache.export_key(model, "litert", "none", [], "") != key


def test_the_export_cache_keys_calibration_photos_by_their_bytes(model, tmp_path):
    from tl_helpers.deploy import cache as export_cache

    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(photo)
    before = export_cache.export_key(model, "litert", "int8", [photo])
    moved = tmp_path / "elsewhere.png"
    photo.rename(moved)
    assert export_cache.export_key(model, "litert", "int8", [moved]) == before, "paths don't count"
    pixels = np.full((8, 8, 3), 100, np.uint8)
    pixels[0, 0, 0] = 101  # one pixel
    Image.fromarray(pixels).save(moved)
    assert export_cache.export_key(model, "litert", "int8", [moved]) != before


def test_the_export_cache_keeps_whole_entries_and_skips_large_ones(
    tmp_path, fresh_cache, monkeypatch
):
    from tl_helpers.deploy import cache as export_cache

    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"x" * 100)
    (folder / "variables" / "v").write_bytes(b"y" * 100)
    assert export_cache.keep("k" * 64, folder)
    kept = export_cache.find("k" * 64)
    assert kept is not None and (kept / "variables" / "v").read_bytes() == b"y" * 100
    assert not export_cache.keep("k" * 64, folder), "an entry is written once"
    assert export_cache.find("z" * 64) is None
    monkeypatch.setattr(export_cache, "MAX_CACHED_BYTES", 150)
    assert not export_cache.keep("m" * 64, folder) and export_cache.find("m" * 64) is None
    leftovers = [p.name for p in (fresh_cache / "exports").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_the_calibration_exercise_checks_the_learners_agreement_and_conclusion(
    model, tmp_path, capsys
):
    from tl_helpers.exercises import check_calibration_agreement

    images, labels = colour_images(12, seed=7)
    files = []
    for index, (image, label) in enumerate(zip(images, labels)):
        path = tmp_path / CLASSES[label] / f"{index:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(path)
        files.append(path)
    split = Split(tuple(files), tuple(int(label) for label in labels))
    exported = export_classifier(model, tmp_path / "m.tflite", format="litert").path
    photos = np.stack([load_image(f, (SIZE, SIZE)) for f in files])
    keras_top = probabilities(model, photos).argmax(1)
    lite_top = load_exported(exported).probabilities(photos).argmax(1)
    agreement = float(np.mean(keras_top == lite_top))
    assert check_calibration_agreement(exported, model, split, agreement, True, 0.5)
    assert "correct" in capsys.readouterr().out
    assert not check_calibration_agreement(exported, model, split, agreement, False, 0.5)
    assert not check_calibration_agreement(exported, model, split, agreement - 0.2, True, 0.5)
    assert "not yet" in capsys.readouterr().out
