"""The ``predict`` command: a model's top classes for each photo given; a photo that cannot be
read is skipped with a line that says why (and the exit code is 1)."""

from __future__ import annotations

import argparse
import json
import sys

from tl_helpers.cli.options import add_model_argument, add_tta_flag, load_any_model

__all__ = ["add_predict_command"]


def _predict(args: argparse.Namespace) -> int:
    from tl_helpers.data.decode import load_image
    from tl_helpers.evaluation import prediction_entry
    from tl_helpers.models import probabilities

    model, class_names, image_size = load_any_model(args.model)
    failed = 0
    predictions = []
    for path in args.images:
        try:
            image = load_image(path, image_size)
        except (OSError, ValueError) as error:
            print(f"{path}: skipped ({error})", file=sys.stderr)
            failed += 1
            continue
        probs = probabilities(model, image[None], tta=args.tta)[0]
        predictions.append(prediction_entry(path, class_names, probs))
        if not args.json:
            ranked = sorted(zip(class_names, probs), key=lambda pair: -pair[1])[: args.top]
            print(f"{path}: " + ", ".join(f"{name} {p:.1%}" for name, p in ranked))
    if args.json:
        shown = {"model": args.model, "class_names": list(class_names), "tta": args.tta}
        print(json.dumps({**shown, "predictions": predictions}, indent=2))
    return 1 if failed else 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    """Add ``predict MODEL IMAGE... [--top K] [--json] [--tta]`` to the sub-commands."""
    predict = commands.add_parser("predict", help="the top classes of a saved model for each image")
    add_model_argument(predict)
    predict.add_argument(
        "images", nargs="+", help="one or more photos (JPEG, PNG, GIF or BMP), any size"
    )
    predict.add_argument(
        "--top", type=_positive, default=3, help="how many classes to show per photo (default 3)"
    )
    predict.add_argument(
        "--json", action="store_true", help="print JSON: every class's probability for each image"
    )
    add_tta_flag(predict)
    predict.set_defaults(handler=_predict)
