"""The ``evaluate`` command: accuracy, per-class recall and counts of a model on a folder of
``class_name/image`` files; with ``--json``, every file's probabilities too."""

from __future__ import annotations

import argparse
import json

from tl_helpers.cli.options import add_model_argument, add_tta_flag, load_any_model
from tl_helpers.errors import CourseError

__all__ = ["add_evaluate_command"]


def _evaluate(args: argparse.Namespace) -> int:
    from tl_helpers.data.folders import all_images
    from tl_helpers.evaluation import evaluate

    model, model_classes, _ = load_any_model(args.model)
    class_names, split = all_images(args.data_dir)
    if tuple(class_names) != model_classes:
        raise CourseError(
            f"{args.data_dir} has classes {list(class_names)} but {args.model} was trained on "
            f"{list(model_classes)}; evaluate on a folder with the same class sub-folders"
        )
    report = evaluate(model, split, class_names, tta=args.tta)
    if args.json:
        print(json.dumps({**report.to_dict(predictions=True), "tta": args.tta}, indent=2))
    else:
        note = "\n(test-time augmentation: each photo and its mirror image)" if args.tta else ""
        print(report.table() + note)
    return 0


def add_evaluate_command(commands: argparse._SubParsersAction) -> None:
    """Add ``evaluate MODEL DATA_DIR [--json] [--tta]`` to the command line's sub-commands."""
    evaluate = commands.add_parser(
        "evaluate", help="accuracy, per-class recall and counts of a saved model on a folder"
    )
    add_model_argument(evaluate)
    evaluate.add_argument(
        "data_dir", help="folder with one sub-folder of images per class, named as the model's"
    )
    evaluate.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of a table, with every file's probabilities",
    )
    add_tta_flag(evaluate)
    evaluate.set_defaults(handler=_evaluate)
