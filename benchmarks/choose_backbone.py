"""Choose the backbone, image size and recipe of ``python -m tl_helpers train`` on validation only.

    TL_MIRROR=../shared/mirror python benchmarks/choose_backbone.py [--json tl_helpers/records/backbone_choice.json]

For cats vs dogs and flowers, every (backbone, image size) of ``GRID`` is trained by feature
extraction (``measure_candidate``: validation accuracy, frozen-pass time per image, parameters,
``.keras`` size), and each backbone is also fine-tuned (``train_splits`` with ``blocks=2``, the
recipe notebook 04 teaches) at its larger size, timed cold from the photos. The recipe for
``train`` is then chosen by a rule fixed before the run:

1. only recipes whose cold run over the cats vs dogs photos (2000 training and 500 validation)
   took at most ``TIME_LIMIT_S`` seconds on this machine count;
2. among those, the most validation photos right over both datasets together wins, where
   recipes within ``TOLERANCE_PHOTOS`` of the best count as tied and the fastest of the tied wins.

The test splits are never read; notebook 08 evaluates its choice on test once. Test-time
augmentation is not part of the default: ``benchmarks/test_time_augmentation.py`` measured it
within one validation photo of no augmentation (``results/test_time_augmentation.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import add_table_from, print_table_from

GRID = {
    "efficientnet_lite0": (224, 288),
    "efficientnet_lite1": (240, 280),
    "efficientnet_lite2": (260, 300),
}
DATASETS = ("cats_vs_dogs", "flowers")
FINE_TUNE_BLOCKS = 2
TIME_LIMIT_S = 600.0
TOLERANCE_PHOTOS = 2  # one photo per dataset


def recipe_name(recipe: dict) -> str:
    kind = f"fine-tune {recipe['blocks']} blocks" if recipe["blocks"] else "feature extraction"
    return f"{recipe['backbone']} {recipe['image_size']}px {kind}"


def choose_recipe(recipes: list[dict]) -> dict:
    """Apply the rule of the module docstring to recipes carrying their per-dataset results."""
    allowed = [r for r in recipes if r["cats_vs_dogs"]["seconds"] <= TIME_LIMIT_S]
    if not allowed:
        raise SystemExit("no recipe finished within the time limit")
    correct = {recipe_name(r): sum(r[d]["validation_correct"] for d in DATASETS) for r in allowed}
    best = max(correct.values())
    tied = [r for r in allowed if correct[recipe_name(r)] >= best - TOLERANCE_PHOTOS]
    return min(tied, key=lambda r: r["cats_vs_dogs"]["seconds"])


def markdown_table(results: dict) -> str:
    """The README's table: each recipe's validation accuracy and cold seconds per dataset."""
    counts = results["images"]
    header = " | ".join(
        f"{d.replace('_', ' ')}: validation of {counts[d]['validation']} (cold seconds for "
        f"{counts[d]['train']} + {counts[d]['validation']} photos)"
        for d in DATASETS
    )
    lines = [f"| recipe | {header} |", "|---|---|---|"]
    chosen = results["chosen"]
    for recipe in results["recipes"]:
        name = recipe_name(recipe)
        if all(recipe[k] == chosen[k] for k in chosen):
            name = f"**{name}** (chosen)"
        cells = " | ".join(
            f"{recipe[d]['validation_accuracy']:.1%} ({recipe[d]['validation_correct']}) "
            f"in {recipe[d]['seconds']:.0f} s"
            for d in DATASETS
        )
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="where to write every candidate's numbers and the choice")
    add_table_from(parser)
    args = parser.parse_args()
    if print_table_from(args.table_from, markdown_table):
        return 0

    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.evaluation import evaluate
    from tl_helpers.recipe import TrainRecipe
    from tl_helpers.startup import import_tensorflow
    from tl_helpers.training import measure_candidate, train_splits

    import_tensorflow()
    recipes: dict[str, dict] = {}
    counts = {}
    for dataset in DATASETS:
        splits = dataset_splits(dataset, fetch(dataset, verbose=False))
        counts[dataset] = {"train": len(splits.train), "validation": len(splits.validation)}
        for backbone, sizes in GRID.items():
            for size in sizes:
                candidate, result = measure_candidate(splits, backbone, size)
                recipe = {"backbone": backbone, "image_size": size, "blocks": 0}
                entry = recipes.setdefault(recipe_name(recipe), recipe)
                entry[dataset] = {
                    **candidate.to_dict(),
                    "seconds": sum(result.seconds.values()),  # features and head, cold
                }
                print(f"{dataset}: {recipe_name(recipe)}: {entry[dataset]}", flush=True)
            recipe = {"backbone": backbone, "image_size": sizes[-1], "blocks": FINE_TUNE_BLOCKS}
            start = time.perf_counter()
            tuning = TrainRecipe(backbone, sizes[-1], FINE_TUNE_BLOCKS, fine_tune_epochs=8)
            trained = train_splits(splits, tuning, verbose=False)
            seconds = time.perf_counter() - start
            report = evaluate(trained.model, splits.validation)
            entry = recipes.setdefault(recipe_name(recipe), recipe)
            entry[dataset] = {
                "validation_correct": int(report.correct.sum()),
                "validation_total": len(report.labels),
                "validation_accuracy": report.accuracy,
                "seconds": seconds,
            }
            print(f"{dataset}: {recipe_name(recipe)}: {entry[dataset]}", flush=True)

    chosen = choose_recipe(list(recipes.values()))
    print(f"chosen for `train`: {recipe_name(chosen)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        results = {
            "rule": {"time_limit_s": TIME_LIMIT_S, "tolerance_photos": TOLERANCE_PHOTOS},
            "images": counts,
            "recipes": list(recipes.values()),
            "chosen": {k: chosen[k] for k in ("backbone", "image_size", "blocks")},
        }
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
