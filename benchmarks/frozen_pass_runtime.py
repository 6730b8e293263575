"""Benchmark: would the frozen pass be cheaper on LiteRT or ONNX Runtime than on Keras?

    TL_MIRROR=../shared/mirror python benchmarks/frozen_pass_runtime.py [--photos 500] [--json results.json]

Notebook 07 measures LiteRT float32 (XNNPACK) at about 1.8 times Keras's photos per second for a
whole classifier, one photo at a time. The frozen pass of feature extraction runs batches of 32,
and a runtime other than Keras first needs the pooled base converted. So, in one run, for
EfficientNet-Lite0 and Lite2 at their native sizes over the first ``--photos`` cats-vs-dogs
training photos (decoded once beforehand, so only the network is timed):

1. Keras: ``predict`` on batches of 32 (what ``extract_features`` runs);
2. LiteRT float32 and ONNX Runtime: the conversion's time, then the same batches;
3. the largest difference of their features from Keras's, against a tolerance.

A runtime pays in a course run only if conversion plus pass beats Keras's pass; the conversion is
cached like the features, so the pass alone is reported too. The course now runs large frozen
passes on ONNX Runtime on a CPU (``tl_helpers.training.frozen_runtime``); the last part measures
that path end to end (decoding included) against Keras, for features and activations. Exits with status 1 if a
runtime's features differ from Keras's by more than the tolerance (the check a switch would rely
on); the speed is reported, not asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import finish

BACKBONES = {"efficientnet_lite0": 224, "efficientnet_lite2": 260}
TOLERANCE = 1e-3  # largest absolute difference of a pooled feature (features are about 0-10)


def timed(run, batches) -> tuple[float, list]:
    run(batches[0])  # warm-up: builds the graph or the interpreter's plan
    start = time.perf_counter()
    outputs = [run(batch) for batch in batches]
    return time.perf_counter() - start, outputs


def measure(backbone: str, size: int, photos, folder: Path) -> dict:
    import numpy as np

    from tl_helpers.deploy.runtimes import _litert_runner, _onnx_runner
    from tl_helpers.training import pooled_backbone

    model = pooled_backbone(backbone, (size, size))
    batches = [photos[i : i + 32] for i in range(0, len(photos), 32)]
    keras_s, keras_out = timed(lambda b: model.predict(b, verbose=0), batches)
    reference = np.concatenate(keras_out)
    result = {"keras": {"pass_s": keras_s}}
    for runtime, suffix, make_runner in (
        ("litert", ".tflite", _litert_runner),
        ("onnx", ".onnx", _onnx_runner),
    ):
        path = folder / f"{backbone}{suffix}"
        start = time.perf_counter()
        model.export(str(path), format=runtime, verbose=False)
        convert_s = time.perf_counter() - start
        runner = make_runner(path, os.cpu_count())
        pass_s, outputs = timed(runner, batches)
        difference = float(np.abs(np.concatenate(outputs) - reference).max())
        result[runtime] = {
            "convert_s": convert_s,
            "pass_s": pass_s,
            "speedup_pass": keras_s / pass_s,
            "speedup_with_conversion": keras_s / (pass_s + convert_s),
            "max_abs_difference": difference,
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    import numpy as np

    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.data.decode import load_image
    from tl_helpers.startup import quiet_training_logs

    quiet_training_logs()
    splits = dataset_splits("cats_vs_dogs", fetch("cats_vs_dogs", verbose=False))
    files = splits.train.files[: args.photos]
    results: dict = {"photos": len(files), "cpu_count": os.cpu_count(), "backbones": {}}
    checks = {}
    with tempfile.TemporaryDirectory() as folder:
        for backbone, size in BACKBONES.items():
            photos = np.stack([load_image(path, (size, size)) for path in files])
            measured = measure(backbone, size, photos, Path(folder))
            results["backbones"][f"{backbone} {size}px"] = measured
            print(
                f"{backbone} {size}px, {len(files)} photos: Keras pass {measured['keras']['pass_s']:.1f} s"
            )
            for runtime in ("litert", "onnx"):
                m = measured[runtime]
                print(
                    f"  {runtime:<7} conversion {m['convert_s']:5.1f} s, pass {m['pass_s']:5.1f} s "
                    f"({m['speedup_pass']:.2f}x Keras; {m['speedup_with_conversion']:.2f}x with the "
                    f"conversion), largest difference {m['max_abs_difference']:.1e}"
                )
                checks[f"{backbone} {runtime} features within {TOLERANCE:g} of Keras"] = (
                    m["max_abs_difference"] <= TOLERANCE
                )
    results["course"] = course_passes(checks)
    return finish(results, checks, args.json)


def course_passes(checks: dict) -> dict:
    """What the course itself does (``training.frozen_runtime``), decoding included: pooled
    features of the flower training photos at 224 px, and notebook 04's activations (288 px, cut
    below the top 2 blocks, with mirror images), each on Keras and on ONNX Runtime, uncached, in
    one run. The first ONNX pass includes its conversion, as a first run would."""
    import numpy as np

    from tl_helpers.backbones import build_backbone
    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.training import extract_activations, extract_features, split_backbone

    train = dataset_splits("flowers", fetch("flowers", verbose=False)).train
    measured: dict = {"photos": len(train)}
    features = {}
    for runtime in ("keras", "onnx"):
        start = time.perf_counter()
        features[runtime] = extract_features(
            "efficientnet_lite0", train, use_cache=False, verbose=False, runtime=runtime
        ).features
        measured[f"features_224_{runtime}_s"] = time.perf_counter() - start
    parts = split_backbone(build_backbone("efficientnet_lite0", (288, 288)), 2)
    activations = {}
    for runtime in ("keras", "onnx"):
        start = time.perf_counter()
        activations[runtime] = extract_activations(
            parts, train, use_cache=False, verbose=False, runtime=runtime
        ).activations
        measured[f"activations_288_flips_{runtime}_s"] = time.perf_counter() - start
    measured["features_max_abs_difference"] = float(
        np.abs(features["onnx"] - features["keras"]).max()
    )
    for what in ("features_224", "activations_288_flips"):
        keras_s, onnx_s = measured[f"{what}_keras_s"], measured[f"{what}_onnx_s"]
        print(
            f"course, {what}, {len(train)} photos: Keras {keras_s:.1f} s, ONNX Runtime {onnx_s:.1f} s"
        )
    checks["the course's ONNX features within tolerance"] = (
        measured["features_max_abs_difference"] <= TOLERANCE
    )
    return measured


if __name__ == "__main__":
    sys.exit(main())
