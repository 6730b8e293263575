"""Benchmark: fast feature extraction on cats vs dogs, against the work it cannot avoid and
against the TensorFlow tutorial's recipe.

    TL_MIRROR=../shared/mirror python benchmarks/feature_extraction.py [--skip-tutorial] [--json results.json]

What it measures, all in one run on this machine:
1. the unavoidable work: decoding every image once, and one forward pass of the base over
   them (on images already in memory), timed separately;
2. the fast recipe with a cold feature cache: image files -> features -> trained head ->
   test accuracy; its wall time divided by (1) must stay under 1.3;
3. the same recipe again in a fresh process with the cache warm (whole process timed);
4. the TensorFlow tutorial's recipe: frozen base inside the model, augmentation, 10 epochs
   end to end, same data, same backbone;
5. peak memory (max resident set size) of this process.
Exits with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import finish, peak_memory_gb

TARGETS = {"test_accuracy": 0.985, "time_ratio": 1.3, "warm_seconds": 15.0, "peak_memory_gb": 4.0}
BACKBONE, IMAGE_SIZE, BATCH = "efficientnet_lite0", 224, 32


def fast_recipe(verbose: bool = False) -> dict:
    """Files -> cached features -> head -> test accuracy. Returns accuracy and timings."""
    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.evaluation import report_from_probabilities
    from tl_helpers.models import probabilities
    from tl_helpers.training import extract_features, feature_extraction

    start = time.perf_counter()
    splits = dataset_splits("cats_vs_dogs", fetch("cats_vs_dogs", verbose=False))
    result = feature_extraction(
        splits, backbone=BACKBONE, image_size=IMAGE_SIZE, batch_size=BATCH, verbose=verbose
    )
    test = extract_features(
        BACKBONE, splits.test, image_size=IMAGE_SIZE, batch_size=BATCH, verbose=verbose
    )
    report = report_from_probabilities(
        probabilities(result.head, test.features), test.labels, splits.class_names, test.files
    )
    seconds = time.perf_counter() - start
    return {
        "test_accuracy": report.accuracy,
        "interval": report.interval,
        "accuracy_text": report.accuracy_text(),
        "seconds": seconds,
        "head_seconds": result.seconds["head"],
        "head_epochs": result.history.epochs,
        "from_cache": bool(result.train.from_cache and test.from_cache),
    }


def unavoidable_work() -> dict:
    """Decode every image once; then one forward pass of the base over them, from memory."""
    import numpy as np

    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.data.pipelines import make_dataset
    from tl_helpers.data.splits import Split
    from tl_helpers.training import pooled_backbone

    splits = dataset_splits("cats_vs_dogs", fetch("cats_vs_dogs", verbose=False))
    everything = Split(
        splits.train.files + splits.validation.files + splits.test.files,
        splits.train.labels + splits.validation.labels + splits.test.labels,
    )
    pipeline = make_dataset(
        everything, image_size=(IMAGE_SIZE, IMAGE_SIZE), batch_size=BATCH, cache=False
    )
    for _ in pipeline.take(1):  # warm up the file cache of the OS and TF's tracing, untimed
        pass
    start = time.perf_counter()
    images = np.concatenate([x.numpy().astype(np.uint8) for x, _ in pipeline])
    decode = time.perf_counter() - start

    model = pooled_backbone(BACKBONE, (IMAGE_SIZE, IMAGE_SIZE))
    model.predict(images[:BATCH].astype(np.float32), verbose=0)  # build the graph, untimed
    start = time.perf_counter()
    for begin in range(0, len(images), BATCH):
        model.predict_on_batch(images[begin : begin + BATCH].astype(np.float32))
    forward = time.perf_counter() - start
    return {"images": len(images), "decode_seconds": decode, "forward_seconds": forward}


def tutorial_recipe(epochs: int = 10) -> dict:
    """The TensorFlow tutorial's recipe: frozen base inside the model, augmentation, end to end."""
    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.data.pipelines import make_dataset
    from tl_helpers.evaluation import evaluate
    from tl_helpers.models import build_classifier, compile_classifier
    from tl_helpers.training import fit

    start = time.perf_counter()
    splits = dataset_splits("cats_vs_dogs", fetch("cats_vs_dogs"))
    size = {"image_size": (IMAGE_SIZE, IMAGE_SIZE), "batch_size": BATCH}
    train = make_dataset(splits.train, shuffle=True, **size)
    validation = make_dataset(splits.validation, **size)
    model = build_classifier(
        BACKBONE,
        2,
        class_names=splits.class_names,
        image_size=IMAGE_SIZE,
        augmentation=True,
        dropout=0.2,
    )
    compile_classifier(model, 1e-4)  # the tutorial's base learning rate
    history = fit(model, train, validation, epochs=epochs, early_stopping=False, verbose=True)
    report = evaluate(model, splits.test)
    return {
        "test_accuracy": report.accuracy,
        "seconds": time.perf_counter() - start,
        "epochs": history.epochs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--skip-tutorial", action="store_true", help="skip the 10-epoch end-to-end comparison"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--warm-run", action="store_true", help=argparse.SUPPRESS
    )  # the child process of step 3
    args = parser.parse_args()
    if not os.environ.get("TL_MIRROR"):
        print(
            "note: TL_MIRROR is not set; the dataset will be downloaded if it is not in datasets/data yet"
        )

    if args.warm_run:
        print(json.dumps(fast_recipe()))
        return 0

    results: dict = {"backbone": BACKBONE, "image_size": IMAGE_SIZE, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="tl-bench-cache-") as cache:
        os.environ["TL_CACHE_DIR"] = cache  # a cold cache: nothing converted, nothing extracted
        results["unavoidable"] = unavoidable_work()
        print(
            f"unavoidable work: decode {results['unavoidable']['decode_seconds']:.1f}s + "
            f"forward pass {results['unavoidable']['forward_seconds']:.1f}s for {results['unavoidable']['images']} images"
        )

        results["cold"] = fast_recipe(verbose=False)
        unavoidable = (
            results["unavoidable"]["decode_seconds"] + results["unavoidable"]["forward_seconds"]
        )
        results["time_ratio"] = results["cold"]["seconds"] / unavoidable
        print(
            f"fast recipe, cold cache: {results['cold']['seconds']:.1f}s (head {results['cold']['head_seconds']:.1f}s), "
            f"test accuracy {results['cold']['accuracy_text']}, {results['time_ratio']:.2f}x the unavoidable work"
        )

        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--warm-run"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        warm_wall = time.perf_counter() - start
        if child.returncode != 0:
            print(child.stderr[-3000:])
            return 1
        results["warm"] = {
            **json.loads(child.stdout.strip().splitlines()[-1]),
            "process_seconds": warm_wall,
        }
        print(
            f"fast recipe, warm cache, fresh process: {warm_wall:.1f}s in all ({results['warm']['seconds']:.1f}s inside), "
            f"test accuracy {results['warm']['test_accuracy']:.4f}"
        )

    if not args.skip_tutorial:
        results["tutorial"] = tutorial_recipe()
        results["tutorial_vs_fast_time"] = (
            results["tutorial"]["seconds"] / results["cold"]["seconds"]
        )
        print(
            f"tutorial recipe (augmentation, 10 epochs end to end): {results['tutorial']['seconds']:.1f}s, "
            f"test accuracy {results['tutorial']['test_accuracy']:.4f}"
        )
        print(
            f"fast recipe: {results['cold']['seconds']:.1f}s, test accuracy {results['cold']['test_accuracy']:.4f}; "
            f"the tutorial recipe takes {results['tutorial_vs_fast_time']:.1f}x as long"
        )

    results["peak_memory_gb"] = peak_memory_gb()
    print(f"peak memory of this process: {results['peak_memory_gb']:.2f} GB")

    checks = {
        f"test accuracy >= {TARGETS['test_accuracy']}": results["cold"]["test_accuracy"]
        >= TARGETS["test_accuracy"],
        f"time <= {TARGETS['time_ratio']} x unavoidable work": results["time_ratio"]
        <= TARGETS["time_ratio"],
        f"warm run < {TARGETS['warm_seconds']} s": results["warm"]["process_seconds"]
        < TARGETS["warm_seconds"],
        f"peak memory < {TARGETS['peak_memory_gb']} GB": results["peak_memory_gb"]
        < TARGETS["peak_memory_gb"],
        "warm run reproduces the cold accuracy": results["warm"]["test_accuracy"]
        == results["cold"]["test_accuracy"],
    }
    return finish(results, checks, args.json)


if __name__ == "__main__":
    sys.exit(main())
