"""Benchmark: flowers (five classes), feature extraction then fine-tuning, on the test split.

    TL_MIRROR=../shared/mirror python benchmarks/flowers.py [--blocks 3] [--learning-rate 1e-4] [--epochs 5] [--json out.json]

Targets: test accuracy >= 0.90 after feature extraction and >= 0.93 after fine-tuning.
Exits with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import finish, peak_memory_gb

TARGETS = {"feature_extraction": 0.90, "fine_tuning": 0.93}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--blocks", type=int, default=3, help="top blocks of the base to unfreeze")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()

    from tl_helpers.data.pipelines import load_dataset
    from tl_helpers.evaluate import evaluate, report_from_probabilities
    from tl_helpers.training import extract_features, feature_extraction, fine_tune, predict_features_head

    size = args.image_size
    data = load_dataset("flowers", image_size=(size, size))
    splits = data.splits
    results: dict = {"counts": splits.counts(), **vars(args)}

    start = time.perf_counter()
    extracted = feature_extraction(splits, image_size=size, verbose=False)
    test = extract_features("efficientnet_lite0", splits.test, image_size=size, verbose=False)
    report = report_from_probabilities(predict_features_head(extracted.head, test), test.labels, splits.class_names, test.files)
    results["feature_extraction"] = {"test_accuracy": report.accuracy, "top_2": report.top_k_accuracy(2),
                                     "recall": report.recall, "seconds": time.perf_counter() - start}
    print(f"feature extraction: test accuracy {report.accuracy:.4f} ({time.perf_counter() - start:.0f}s)\n{report.table()}")

    start = time.perf_counter()
    model = extracted.classifier(augmentation=True)
    history = fine_tune(model, data.train, data.validation, blocks=args.blocks, learning_rate=args.learning_rate,
                        epochs=args.epochs, history=extracted.history)
    tuned = evaluate(model, splits.test)
    results["fine_tuning"] = {"test_accuracy": tuned.accuracy, "top_2": tuned.top_k_accuracy(2), "recall": tuned.recall,
                              "seconds": time.perf_counter() - start, "epochs": history.epochs - history.fine_tune_start}
    print(f"fine-tuning: test accuracy {tuned.accuracy:.4f} ({time.perf_counter() - start:.0f}s)\n{tuned.table()}")
    results["peak_memory_gb"] = peak_memory_gb()

    checks = {f"feature extraction >= {TARGETS['feature_extraction']}": report.accuracy >= TARGETS["feature_extraction"],
              f"fine-tuning >= {TARGETS['fine_tuning']}": tuned.accuracy >= TARGETS["fine_tuning"]}
    return finish(results, checks, args.json)


if __name__ == "__main__":
    sys.exit(main())
