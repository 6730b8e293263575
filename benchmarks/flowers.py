"""Benchmark: flowers (five classes), feature extraction then fine-tuning, on the test split.

    TL_MIRROR=../shared/mirror python benchmarks/flowers.py [--image-size N] [--blocks N]
        [--learning-rate R] [--epochs 8] [--crop 2] [--label-smoothing 0.1] [--json out.json]

The recipe is the one notebook 04 uses, chosen on the validation split only by
``choose_flowers_recipe.py`` (its record, ``tl_helpers/records/flowers_recipe.json``, gives the defaults:
the chosen image size, and the fine-tuning candidate that scored best on validation). The frozen
bottom of efficientnet_lite0 runs once over the images and their mirror images (cached
activations); feature extraction trains a head on the pooled features of both; fine-tuning
trains the top ``--blocks`` blocks and the head on the cached activations. Both models are
evaluated once, as complete image classifiers, on the test images, each with its 95 % interval,
and compared with the exact McNemar test on the same photos.

Targets (set from what the validation-chosen recipe gives, not tuned on test): test accuracy
>= 0.90 after feature extraction and >= 0.89 after fine-tuning. Exits with status 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import finish, peak_memory_gb

RECIPE = Path(__file__).resolve().parent.parent / "tl_helpers" / "records" / "flowers_recipe.json"

TARGETS = {"feature_extraction": 0.90, "fine_tuning": 0.89}


def main() -> int:
    record = json.loads(RECIPE.read_text())
    candidate = record["fine_tuning_at_chosen_size"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=record["chosen"]["image_size"])
    parser.add_argument(
        "--blocks",
        type=int,
        default=candidate["blocks"],
        help="top blocks of the base to fine-tune",
    )
    parser.add_argument("--learning-rate", type=float, default=candidate["learning_rate"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--crop", type=int, default=2, help="random crop of the activation map, in cells"
    )
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--json")
    args = parser.parse_args()

    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.evaluation import evaluate
    from tl_helpers.recipe import TrainRecipe
    from tl_helpers.training import recipe_activations, recipe_fine_tune, recipe_head

    recipe = TrainRecipe(
        "efficientnet_lite0",
        args.image_size,
        args.blocks,
        fine_tune_epochs=args.epochs,
        fine_tune_learning_rate=args.learning_rate,
        crop=args.crop,
        label_smoothing=args.label_smoothing,
    )
    splits = dataset_splits("flowers", fetch("flowers", verbose=False))
    results: dict = {"counts": splits.counts(), **vars(args)}

    start = time.perf_counter()
    # The head is trained on the activations cut for fine-tuning: one frozen pass serves both.
    frozen = recipe_activations(splits, recipe, verbose=False)
    results["activations_seconds"] = time.perf_counter() - start
    model, history = recipe_head(frozen, recipe, splits.class_names, verbose=False)
    report = evaluate(model, splits.test)
    results["feature_extraction"] = {
        "test_accuracy": report.accuracy,
        "interval": report.interval,
        "top_2": report.top_k_accuracy(2),
        "validation_accuracy": evaluate(model, splits.validation).accuracy,
        "recall": report.recall,
        "seconds": time.perf_counter() - start,
    }
    print(
        f"feature extraction: test accuracy {report.accuracy_text()} ({time.perf_counter() - start:.0f}s)\n{report.table()}"
    )

    start = time.perf_counter()
    history = recipe_fine_tune(model, frozen, recipe, history)
    tuned = evaluate(model, splits.test)
    results["fine_tuning"] = {
        "test_accuracy": tuned.accuracy,
        "interval": tuned.interval,
        "top_2": tuned.top_k_accuracy(2),
        "recall": tuned.recall,
        "validation_accuracy": evaluate(model, splits.validation).accuracy,
        "seconds": time.perf_counter() - start,
        "epochs": history.epochs - history.fine_tune_start,
    }
    print(
        f"fine-tuning: test accuracy {tuned.accuracy_text()} ({time.perf_counter() - start:.0f}s)\n{tuned.table()}"
    )
    comparison = report.compare(tuned)
    results["mcnemar"] = {
        "only_feature_extraction_right": comparison.only_first_right,
        "only_fine_tuning_right": comparison.only_second_right,
        "p_value": comparison.p_value,
    }
    print(f"feature extraction vs fine-tuning on the same test photos: {comparison}")
    results["peak_memory_gb"] = peak_memory_gb()

    checks = {
        f"feature extraction >= {TARGETS['feature_extraction']}": report.accuracy
        >= TARGETS["feature_extraction"],
        f"fine-tuning >= {TARGETS['fine_tuning']}": tuned.accuracy >= TARGETS["fine_tuning"],
    }
    return finish(results, checks, args.json)


if __name__ == "__main__":
    sys.exit(main())
