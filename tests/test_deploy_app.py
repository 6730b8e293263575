"""Predicting like an app (Pillow, NumPy, LiteRT, no TensorFlow), and measuring deployed models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from test_export import colour_images, tiny_classifier
from test_one_image_path import real_photos, rotated_copies

from conftest import write_image
from tl_helpers.data.decode import load_image
from tl_helpers.deploy.app import load_photo, predict_photo, resize_like_tensorflow
from tl_helpers.deploy.export import export_classifier
from tl_helpers.deploy.measure import (
    deployment_table,
    measure_deployment,
    median_latency_ms,
    photos_per_second,
)
from tl_helpers.deploy.runtimes import load_exported
from tl_helpers.models import probabilities

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("source", "target"), [((37, 53), (32, 32)), ((10, 10), (64, 48)), ((333, 500), (288, 288))]
)
def test_numpy_resize_is_tensorflows_bilinear_resize(source, target):
    image = np.random.default_rng(0).uniform(0, 255, (*source, 3)).astype(np.float32)
    expected = tf.image.resize(image, target, antialias=False).numpy()
    np.testing.assert_allclose(resize_like_tensorflow(image, target), expected, atol=1e-3)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_load_photo_gives_the_pipelines_pixels_for_pngs(tmp_path, mode):
    photo = write_image(tmp_path / f"photo_{mode}.png", size=(61, 45), mode=mode)
    np.testing.assert_array_equal(load_photo(photo, (32, 40)), load_image(photo, (32, 40)))


def test_load_photo_turns_phone_photos_upright_like_the_pipeline(tmp_path):
    photo = write_image(tmp_path / "photo.png", size=(80, 50), seed=3)
    for copy in rotated_copies(photo, tmp_path):
        ours, pipeline = load_photo(copy, (24, 36)), load_image(copy, (24, 36))
        # Same orientation; JPEG pixels differ by TensorFlow's fast IDCT against Pillow's accurate one.
        assert np.abs(ours - pipeline).mean() < 4, copy.name


@pytest.mark.slow
def test_predict_photo_runs_without_tensorflow_and_matches_the_keras_model(tmp_path):
    model = tiny_classifier(["blue_things", "green_things", "red_things"])
    exported = export_classifier(model, tmp_path / "colours.tflite", format="litert")
    images, _ = colour_images(3, seed=8)
    photos = []
    for index, image in enumerate(images):
        photos.append(tmp_path / f"photo_{index}.png")
        Image.fromarray(image.astype(np.uint8)).save(photos[-1])
    code = (
        "import json, sys\n"
        "from tl_helpers.deploy.app import predict_photo\n"
        f"result = [predict_photo({str(exported.path)!r}, p) for p in {[str(p) for p in photos]!r}]\n"
        "print(json.dumps({'result': result, 'tensorflow': 'tensorflow' in sys.modules}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    answer = json.loads(run.stdout)
    assert answer["tensorflow"] is False
    expected = probabilities(model, images)
    for row, got in zip(expected, answer["result"]):
        assert list(got) == ["blue_things", "green_things", "red_things"]
        np.testing.assert_allclose(list(got.values()), row, atol=1e-5)
    assert predict_photo(exported.path, photos[0]) == answer["result"][0]


@pytest.mark.slow
def test_exported_lite0_keeps_the_keras_top1_on_real_photos(mirror, tmp_path):
    import tl_helpers as tl

    model = tl.build_classifier("efficientnet_lite0", 5, image_size=96, seed=3)
    photos = real_photos(mirror, 12)
    images = np.stack([load_image(p, (96, 96)) for p in photos])
    expected = probabilities(model, images)
    for out, form in [("m.tflite", "litert"), ("m.onnx", "onnx")]:
        got = load_exported(export_classifier(model, tmp_path / out, format=form).path)
        np.testing.assert_array_equal(got.probabilities(images).argmax(1), expected.argmax(1))
    app = np.stack([load_photo(p, (96, 96)) for p in photos])
    assert np.abs(app - images).mean() < 2  # only the JPEG decoder's rounding differs


def test_native_output_filtered_drops_only_the_noise(tmp_path):
    code = (
        "import os\n"
        "from tl_helpers.startup import is_runtime_notice, native_output_filtered\n"
        "with native_output_filtered(is_runtime_notice):\n"
        "    os.write(1, b'fully_quantize: 0, inference_type: 6\\nkeep this\\n')\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\nreal error\\n')\n"
        "print('after')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.splitlines() == ["keep this", "after"]
    assert run.stderr.splitlines() == ["real error"]


class FakeClock:
    """A clock that moves only when the fake model works: 2 ms per photo, plus 10 ms for the
    first call of a run (what a warm-up is there to leave out)."""

    def __init__(self) -> None:
        self.now, self.calls = 0.0, 0

    def __call__(self) -> float:
        return self.now

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.now += 0.002 * len(images) + (0.010 if self.calls == 1 else 0.0)
        return np.eye(3)[np.arange(len(images)) % 3]


def test_latency_and_throughput_measure_the_call_on_the_clock_given():
    photo = np.zeros((8, 8, 3), np.float32)
    clock = FakeClock()
    assert median_latency_ms(clock.predict, photo, runs=5, warmup=1, clock=clock) == (
        pytest.approx(2.0)
    )
    assert clock.calls == 6  # the warm-up call, then the five timed ones
    # Without a warm-up the slow first call is timed too, but the median leaves it out.
    cold = FakeClock()
    assert median_latency_ms(cold.predict, photo, runs=3, warmup=0, clock=cold) == (
        pytest.approx(2.0)
    )
    images = np.zeros((64, 8, 8, 3), np.uint8)
    timed = FakeClock()
    assert photos_per_second(timed.predict, images, clock=timed) == pytest.approx(500.0)
    with pytest.raises(ValueError, match="runs must be at least 1"):
        median_latency_ms(timed.predict, photo, runs=0)


def test_measure_deployment_scores_agreement_and_accuracy_and_tabulates():
    images = np.zeros((6, 8, 8, 3), np.uint8)
    labels = [0, 1, 2, 0, 1, 1]  # the predictions are 0,1,2,0,1,2: five of six right
    reference = np.eye(3)[[0, 1, 2, 0, 2, 2]]  # differs from them on one photo
    files = [Path(f"p{i}.jpg") for i in range(6)]
    clock = FakeClock()
    measured = measure_deployment(
        "toy", clock.predict, size_bytes=2_500_000, images=images, labels=labels,
        class_names=["a", "b", "c"], files=files, reference=reference, runs=3, clock=clock,
    )  # fmt: skip
    assert measured.report.accuracy == pytest.approx(5 / 6)
    assert measured.agreement == pytest.approx(5 / 6)
    assert measured.latency_ms_one_thread is None
    assert measured.latency_ms == pytest.approx(2.0)
    assert measured.photos_per_second == pytest.approx(500.0)
    table = deployment_table([measured]).splitlines()
    assert table[0].split()[:2] == ["model", "MB"] and table[1].split()[:2] == ["toy", "2.5"]
    assert "83.3%" in table[1]


def toy_measurement(name: str, megabytes: float, one_thread_ms: float | None):
    from tl_helpers.deploy.measure import DeploymentMeasurement
    from tl_helpers.evaluation import report_from_probabilities

    report = report_from_probabilities(
        np.eye(2), [0, 1], ["a", "b"], [Path("a.jpg"), Path("b.jpg")]
    )
    latency = one_thread_ms or 20.0
    return DeploymentMeasurement(
        name, int(megabytes * 1e6), latency / 2, one_thread_ms, 10.0, report, 1.0
    )


def test_check_shipping_choice_wants_the_fastest_export_within_both_limits(capsys):
    from tl_helpers.exercises import check_shipping_choice

    rows = [
        toy_measurement("keras", 14, None),
        toy_measurement("big but fast", 13, 3.0),
        toy_measurement("small and fast", 4, 5.0),
        toy_measurement("small and slow", 3, 12.0),
        toy_measurement("small, fine", 4.5, 8.0),
    ]
    assert check_shipping_choice(rows, "small and fast", 5.0, 10.0)
    for wrong, reason in [
        ("big but fast", "over the 5.0 MB limit"),
        ("small and slow", "over the limit"),
        ("small, fine", "another export that fits is faster"),
        ("keras", "cannot be set"),
        ("nonsense", "give one of the table's model names"),
    ]:
        assert not check_shipping_choice(rows, wrong, 5.0, 10.0)
        assert reason in capsys.readouterr().out


def test_check_resize_changes_counts_the_photos_that_change(tmp_path):
    from tl_helpers.exercises import check_resize_changes

    model = tiny_classifier(["blue_things", "green_things", "red_things"])
    runner = load_exported(export_classifier(model, tmp_path / "m.onnx", format="onnx").path)
    images, _ = colour_images(5, seed=9)
    files = []
    for index, image in enumerate(images):  # already at the model's size: both resizes are exact
        files.append(tmp_path / f"{index}.png")
        Image.fromarray(image.astype(np.uint8)).save(files[-1])
    assert check_resize_changes(runner, files, 0)
    assert not check_resize_changes(runner, files, 2)


def test_deployment_plot_draws_size_and_speed_for_every_row():
    from tl_helpers.plots import deployment_plot

    rows = [toy_measurement("a", 14, None), toy_measurement("b", 4, 5.0)]
    figure = deployment_plot(rows)
    size_axis, speed_axis = figure.axes
    assert [bar.get_width() for bar in size_axis.patches] == pytest.approx([14, 4])
    assert len(speed_axis.patches) == 4  # all threads and one thread, per row
    assert [label.get_text() for label in size_axis.get_yticklabels()] == ["a", "b"]
