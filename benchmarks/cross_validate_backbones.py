"""Notebook 08's candidates scored by k-fold cross-validation instead of one validation split.

    TL_MIRROR=../shared/mirror python benchmarks/cross_validate_backbones.py [--dataset flowers] [--folds 5] [--json results/cross_validation.json]

Each (backbone, image size) of ``choose_backbone.GRID`` is trained by feature extraction (cached
features, a head on top) ``folds`` times over train + validation pooled (``cross_validate_head``),
and scored by its mean accuracy over the held-out folds, with the spread over folds beside it and
the one validation split's accuracy for comparison. The choice follows the one-standard-error
rule over the grid ordered simplest first (fewer parameters, then smaller images), and every
candidate's paired difference from the choice is printed. The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from choose_backbone import GRID  # noqa: E402 (the same grid as the single-split choice)
from common import add_table_from, print_table_from  # noqa: E402


def markdown_table(record: dict) -> str:
    """The README's table of one run's JSON record."""
    lines = [
        f"| candidate (feature extraction) | {record['folds']}-fold mean ± spread over folds "
        "| one validation split |",
        "|---|---|---|",
    ]
    for row in record["candidates"]:
        name = f"{row['backbone']} {row['image_size']}px"
        if (
            f"{row['backbone'].removeprefix('efficientnet_')} {row['image_size']}px"
            == record["chosen"]
        ):
            name = f"**{name}** (chosen)"
        lines.append(
            f"| {name} | {row['mean']:.1%} ± {row['spread']:.1%} "
            f"| {row['single_validation_accuracy']:.1%} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="flowers", choices=("flowers", "cats_vs_dogs"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", help="where to write every candidate's fold accuracies")
    add_table_from(parser)
    args = parser.parse_args()
    if print_table_from(args.table_from, markdown_table):
        return 0

    from tl_helpers.startup import import_tensorflow

    import_tensorflow()  # quietly, before anything else imports it
    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.training import (
        choose_within_one_standard_error,
        cross_validate_head,
        feature_extraction,
    )

    splits = dataset_splits(args.dataset, fetch(args.dataset, verbose=False))
    classes = len(splits.class_names)
    print(
        f"{args.dataset}: {len(splits.train)} training + {len(splits.validation)} validation "
        f"photos in {args.folds} folds (the test split is not read)"
    )
    results, rows = [], []
    for backbone, sizes in GRID.items():  # the grid lists the smaller backbones first
        for size in sizes:
            start = time.perf_counter()
            single = feature_extraction(splits, backbone=backbone, image_size=size, verbose=False)
            label = f"{backbone.removeprefix('efficientnet_')} {size}px"
            folds = cross_validate_head(
                single.train, single.validation, classes, label=label, folds=args.folds
            )
            results.append(folds)
            rows.append(
                {
                    "backbone": backbone,
                    "image_size": size,
                    "fold_accuracies": list(folds.accuracies),
                    "mean": folds.mean,
                    "spread": folds.spread,
                    "single_validation_accuracy": single.validation_accuracy(),
                    "seconds": time.perf_counter() - start,
                }
            )
            print(
                f"{folds.summary()}   (one validation split: {rows[-1]['single_validation_accuracy']:.1%})",
                flush=True,
            )

    chosen = choose_within_one_standard_error(results)
    print(f"chosen by the one-standard-error rule: {chosen.label}")
    for result in results:
        gap, error = result.paired_difference(chosen)
        print(f"  {result.label:<12} minus the choice: {gap:+.1%} ± {error:.1%} (paired, per fold)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        record = {
            "dataset": args.dataset,
            "folds": args.folds,
            "photos": chosen.photos,
            "candidates": rows,
            "chosen": chosen.label,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
        print(markdown_table(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
