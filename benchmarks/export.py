"""Benchmark: a flowers classifier exported to SavedModel, LiteRT (float32, float16, dynamic
range, int8) and ONNX, measured side by side in one run against Keras.

    TL_MIRROR=../shared/mirror python benchmarks/export.py [--model FILE.keras] [--runs 50] [--json out.json]

Without ``--model`` it trains the quick recipe (``TRAIN_FAST``: EfficientNet-Lite0 at 224 px,
feature extraction, chosen on validation; the test split is never used while training) on the
flowers training photos; with ``--model`` it exports that ``.keras`` file (for example notebook
04's, 288 px). int8 is calibrated on 300 training photos. Each form is measured on the test photos:
file size, median single-photo latency (one thread, all threads), throughput, test accuracy with
its interval, and top-1 agreement with Keras. Keras's ``model.predict`` on one photo is the
reference for speed.

Targets, checked in this one run (timings as ratios): int8 LiteRT at least 15x faster than Keras
``predict`` per photo and at least 2x faster than float32 LiteRT on one thread; int8 agrees with
Keras on at least 98 % of test photos and loses at most one point of accuracy; float16 within 0.2
points (or one photo where one photo is more); the int8 file at most 30 % of float32's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import finish

RUNS = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="a flowers .keras classifier (default: train the quick recipe)"
    )
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--json")
    args = parser.parse_args()

    import numpy as np

    import tl_helpers as tl

    tl.setup_notebook()
    tl.set_seeds()
    splits = tl.dataset_splits("flowers", tl.fetch("flowers", verbose=False))
    folder = Path(tempfile.mkdtemp(prefix="tl-export-"))
    if args.model:
        model = tl.load_classifier(args.model).model
    else:
        model = tl.train_splits(splits, tl.TRAIN_FAST, verbose=False).model
    keras_file = tl.save_classifier(model, folder / "flowers.keras")
    size = model.input_shape[1:3]
    images = np.concatenate(
        [x.numpy() for x, _ in tl.make_dataset(splits.test, image_size=size, cache=False)]
    ).astype(np.uint8)
    exports = tl.export_all(model, folder, splits.train, name="flowers")
    rows = tl.measure_exports(
        model, keras_file.stat().st_size, exports, images=images, labels=splits.test.labels,
        class_names=splits.class_names, files=splits.test.files, runs=args.runs,
    )  # fmt: skip
    keras_predict = tl.median_latency_ms(
        lambda x: model.predict(x, verbose=0), images[0].astype(np.float32), args.runs
    )
    print(f"{model.name} at {size[0]} px, {len(images)} test photos, {args.runs} timed calls each")
    print(f"Keras model.predict, one photo: {keras_predict:.1f} ms (the reference)")
    print(tl.deployment_table(rows))
    by_name = {row.name: row for row in rows}
    keras, f32, f16, int8 = (
        by_name[n] for n in ("Keras .keras", "litert", "litert float16", "litert int8")
    )
    one_photo = 1 / len(images)
    assert int8.latency_ms_one_thread and f32.latency_ms_one_thread
    checks = {
        f"int8 one thread {keras_predict / int8.latency_ms_one_thread:.1f}x faster than Keras predict (>= 15x)": keras_predict
        >= 15 * int8.latency_ms_one_thread,
        f"int8 {f32.latency_ms_one_thread / int8.latency_ms_one_thread:.2f}x faster than float32 LiteRT on one thread (>= 2x)": f32.latency_ms_one_thread
        >= 2 * int8.latency_ms_one_thread,
        f"int8 agrees with Keras on {int8.agreement:.1%} of test photos (>= 98 %)": int8.agreement
        >= 0.98,
        f"int8 accuracy {int8.report.accuracy:.1%} vs Keras {keras.report.accuracy:.1%} (at most 1 point lower)": keras.report.accuracy
        - int8.report.accuracy
        <= 0.01 + 1e-9,
        f"float16 accuracy {f16.report.accuracy:.1%} (within 0.2 points, or one photo = {one_photo:.2%})": abs(
            f16.report.accuracy - keras.report.accuracy
        )
        <= max(0.002, one_photo) + 1e-9,
        f"int8 file {int8.size_bytes / f32.size_bytes:.0%} of float32 LiteRT (<= 30 %)": int8.size_bytes
        <= 0.30 * f32.size_bytes,
    }
    results = {
        "model": model.name,
        "image_size": list(size),
        "test_photos": len(images),
        "runs": args.runs,
        "keras_predict_ms": keras_predict,
        "rows": [
            {**row.row(), "accuracy": row.report.accuracy, "agreement": row.agreement}
            for row in rows
        ],
    }
    return finish(results, checks, args.json)


if __name__ == "__main__":
    sys.exit(main())
