"""Choose the backbone, image size and recipe of ``python -m tl_helpers train`` on validation only.

    TL_MIRROR=../shared/mirror python benchmarks/cross_validate_backbones.py --dataset flowers --json benchmarks/results/cross_validation_flowers.json
    TL_MIRROR=../shared/mirror python benchmarks/cross_validate_backbones.py --dataset cats_vs_dogs --json benchmarks/results/cross_validation_cats_vs_dogs.json
    TL_MIRROR=../shared/mirror python benchmarks/choose_backbone.py [--from tl_helpers/records/backbone_choice.json] [--json tl_helpers/records/backbone_choice.json]

For cats vs dogs and flowers, every (backbone, image size) of ``GRID`` is trained by feature
extraction (``measure_candidate``: validation accuracy, frozen-pass time per image, parameters,
``.keras`` size), and each backbone is also fine-tuned (``train_splits`` with ``blocks=2``, the
recipe notebook 04 teaches) at its larger size, timed cold from the photos. With ``--from``, the
measurements of an earlier run are reused and only the rule is applied again. The 5-fold
cross-validation of the feature-extraction candidates comes from ``cross_validate_backbones.py``'s
records (``CROSS_VALIDATION``), run first. The recipe for ``train`` is then chosen by a rule fixed
before the run:

1. only recipes whose cold run over the cats vs dogs photos (2000 training and 500 validation)
   took at most ``TIME_LIMIT_S`` seconds on this machine count;
2. feature-extraction recipes are scored by their 5-fold mean accuracy over train + validation,
   averaged over the two datasets (one 300-photo validation split cannot separate them: its 95 %
   interval is wider than their gaps); the fastest of those within one standard error of the best
   is chosen (the one-standard-error rule, fastest first);
3. fine-tuning costs minutes per fit, too much to cross-validate here, so it replaces the chosen
   recipe only if, at the same backbone and size, it is right on more than ``TOLERANCE_PHOTOS``
   more validation photos of the two datasets together.

The test splits are never read; notebook 08 evaluates its choice on test once. Test-time
augmentation is not part of the default: ``benchmarks/test_time_augmentation.py`` measured it
within one validation photo of no augmentation (``results/test_time_augmentation.json``).
"""

from __future__ import annotations

import argparse
import json
import math
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
CROSS_VALIDATION = Path(__file__).parent / "results"


def recipe_name(recipe: dict) -> str:
    kind = f"fine-tune {recipe['blocks']} blocks" if recipe["blocks"] else "feature extraction"
    return f"{recipe['backbone']} {recipe['image_size']}px {kind}"


def combined_cross_validation(recipe: dict) -> tuple[float, float]:
    """A feature-extraction recipe's k-fold mean averaged over the datasets, and its standard
    error (the datasets' folds are independent)."""
    means = [recipe[d]["cross_validation"]["mean"] for d in DATASETS]
    errors = [recipe[d]["cross_validation"]["standard_error"] for d in DATASETS]
    return sum(means) / len(means), math.sqrt(sum(e * e for e in errors)) / len(errors)


def choose_recipe(recipes: list[dict]) -> dict:
    """Apply the rule of the module docstring to recipes carrying their per-dataset results."""
    allowed = [r for r in recipes if r["cats_vs_dogs"]["seconds"] <= TIME_LIMIT_S]
    extraction = [r for r in allowed if r["blocks"] == 0]
    if not extraction:
        raise SystemExit("no feature-extraction recipe finished within the time limit")
    best_mean, best_error = max(combined_cross_validation(r) for r in extraction)
    tied = [r for r in extraction if combined_cross_validation(r)[0] >= best_mean - best_error]
    chosen = min(tied, key=lambda r: r["cats_vs_dogs"]["seconds"])

    def correct(recipe: dict) -> int:
        return sum(recipe[d]["validation_correct"] for d in DATASETS)

    better_tuned = [
        r
        for r in allowed
        if r["blocks"]
        and (r["backbone"], r["image_size"]) == (chosen["backbone"], chosen["image_size"])
        and correct(r) > correct(chosen) + TOLERANCE_PHOTOS
    ]
    return max(better_tuned, key=correct) if better_tuned else chosen


def add_cross_validation(recipes: list[dict], folder: Path = CROSS_VALIDATION) -> None:
    """Put each feature-extraction recipe's k-fold result (mean, standard error, folds) beside
    its single-split numbers, from ``cross_validate_backbones.py``'s records in ``folder``."""
    for dataset in DATASETS:
        path = folder / f"cross_validation_{dataset}.json"
        if not path.exists():
            raise SystemExit(
                f"{path} is missing: run benchmarks/cross_validate_backbones.py --dataset {dataset} --json {path}"
            )
        record = json.loads(path.read_text())
        rows = {(row["backbone"], row["image_size"]): row for row in record["candidates"]}
        for recipe in recipes:
            if recipe["blocks"]:
                continue
            row = rows.get((recipe["backbone"], recipe["image_size"]))
            if row is None:
                raise SystemExit(f"{path} has no {recipe_name(recipe)}: run it again on GRID")
            folds = len(row["fold_accuracies"])
            recipe[dataset]["cross_validation"] = {
                "folds": folds,
                "photos": record["photos"],
                "mean": row["mean"],
                "standard_error": row["spread"] / math.sqrt(folds),
            }


def markdown_table(results: dict) -> str:
    """The README's table: each recipe's validation accuracy and cold seconds per dataset, and
    for feature extraction its 5-fold mean over both datasets."""
    counts = results["images"]
    header = " | ".join(
        f"{d.replace('_', ' ')}: validation of {counts[d]['validation']} (cold seconds for "
        f"{counts[d]['train']} + {counts[d]['validation']} photos)"
        for d in DATASETS
    )
    lines = [f"| recipe | 5-fold mean of both ± standard error | {header} |", "|---|---|---|---|"]
    chosen = results["chosen"]
    for recipe in results["recipes"]:
        name = recipe_name(recipe)
        if all(recipe[k] == chosen[k] for k in chosen):
            name = f"**{name}** (chosen)"
        folds = "not cross-validated"
        if "cross_validation" in recipe[DATASETS[0]]:
            mean, error = combined_cross_validation(recipe)
            folds = f"{mean:.2%} ± {error:.2%}"
        cells = " | ".join(
            f"{recipe[d]['validation_accuracy']:.1%} ({recipe[d]['validation_correct']}) "
            f"in {recipe[d]['seconds']:.0f} s"
            for d in DATASETS
        )
        lines.append(f"| {name} | {folds} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="where to write every candidate's numbers and the choice")
    parser.add_argument(
        "--from",
        dest="earlier",
        help="reuse the measurements of an earlier run's JSON record; only apply the rule again",
    )
    add_table_from(parser)
    args = parser.parse_args()
    if print_table_from(args.table_from, markdown_table):
        return 0
    if args.earlier:
        earlier = json.loads(Path(args.earlier).read_text())
        return choose_and_record(earlier["recipes"], earlier["images"], args.json)

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

    return choose_and_record(list(recipes.values()), counts, args.json)


def choose_and_record(recipes: list[dict], counts: dict, json_path: str | None) -> int:
    """Add the cross-validation results, apply the rule, print the choice, write the record."""
    for recipe in recipes:
        for dataset in DATASETS:
            recipe[dataset].pop("cross_validation", None)  # an earlier record's: read afresh
    add_cross_validation(recipes)
    chosen = choose_recipe(recipes)
    print(f"chosen for `train`: {recipe_name(chosen)}")
    results = {
        "rule": {
            "time_limit_s": TIME_LIMIT_S,
            "tolerance_photos": TOLERANCE_PHOTOS,
            "feature_extraction": "fastest within one standard error of the best 5-fold mean",
        },
        "images": counts,
        "recipes": recipes,
        "chosen": {k: chosen[k] for k in ("backbone", "image_size", "blocks")},
    }
    print(markdown_table(results))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
