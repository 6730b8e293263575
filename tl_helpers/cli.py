"""Command line.

    python -m tl_helpers data fetch NAME          download (or take from the mirror) and check a dataset
    python -m tl_helpers data info NAME           where it lives; counts per split and class
    python -m tl_helpers train DATA_DIR --out model.keras [--fast] [--backbone B] [--blocks N] [--epochs E]
                                [--strategy {auto,mirrored,multi-worker}] [--backup-dir DIR]
    python -m tl_helpers evaluate MODEL DATA_DIR [--json] [--tta]
    python -m tl_helpers predict MODEL IMAGE... [--json] [--tta]
    python -m tl_helpers export MODEL.keras --format {saved_model,litert,onnx} [--quantize Q]
                                [--calibration DATA_DIR] --out PATH

``MODEL`` is a ``.keras`` file or an exported model (``.tflite``, ``.onnx``, a SavedModel folder),
each run by its own runtime.

``evaluate --json`` and ``predict --json`` print the same per-file ``predictions`` entries
(``{"file", "predicted", "probabilities": {class: p}}``, plus ``"true"`` from ``evaluate``), so
the two can be checked against each other file by file: both read images through the course's
one image path, so they agree to float precision.

Heavy imports (TensorFlow) happen inside the commands that need them, so ``data`` stays instant.

Errors raised on purpose (``CourseError``, a wrong ``TL_*`` folder setting included) are printed
as one readable message with exit code 2, never as a traceback; Ctrl-C stops any command with
exit code 130 and a one-line note, leaving no half-written file behind.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tl_helpers import config, data
from tl_helpers.deploy.command import add_export_command
from tl_helpers.errors import CourseError
from tl_helpers.interrupts import INTERRUPTED, CtrlC
from tl_helpers.train_command import add_train_command, train_recipe

__all__ = ["build_parser", "main", "train_recipe"]


def _data_fetch(args: argparse.Namespace) -> int:
    data.fetch(args.name, mirror=args.mirror, data_dir=args.data_dir)
    return 0


def _data_info(args: argparse.Namespace) -> int:
    spec = data.get_spec(args.name)
    print(f"{spec.name}: {spec.title}")
    print(f"  source:  {spec.url}")
    print(f"  licence: {spec.license}")
    root = data.locate(args.name, mirror=args.mirror, data_dir=args.data_dir)
    if root is None:
        mirror = config.mirror_dir(args.mirror)
        where = (
            f"not in the mirror {config.display_path(mirror, Path.cwd())} (it has no {spec.folder}/) "
            "and not fetched yet"
            if mirror
            else "not fetched yet (or set TL_MIRROR to a folder that holds it)"
        )
        print(f"  {where}: run `python -m tl_helpers data fetch {spec.name}`")
        return 1
    print(f"  location: {config.display_path(root, Path.cwd())}")
    splits = data.dataset_splits(spec.name, root)
    counts = splits.counts()
    header = f"  {'class':<12}" + "".join(f"{split:>12}" for split in counts)
    print(header)
    for class_name in splits.class_names:
        print(
            f"  {class_name:<12}" + "".join(f"{counts[split][class_name]:>12}" for split in counts)
        )
    print(f"  {'total':<12}" + "".join(f"{sum(counts[split].values()):>12}" for split in counts))
    return 0


def _data_manifest(args: argparse.Namespace) -> int:
    spec = data.get_spec(args.name)
    if spec.file_manifest is None:
        raise CourseError(f"dataset {spec.name!r} has no file_manifest entry in the catalog")
    root = data.locate(args.name, mirror=args.mirror, data_dir=args.data_dir)
    if root is None:
        raise CourseError(f"no copy of {spec.name!r} found: set TL_MIRROR or fetch it first")
    data.check_dataset(
        spec, root, strict=True
    )  # only a complete, decodable copy may define the list
    count = data.write_manifest(root, spec, spec.file_manifest)
    print(f"wrote {count} checksums to {spec.file_manifest}")
    return 0


def _load_model(path: str):  # noqa: ANN202 - a Keras model or an ExportedClassifier
    """The model at ``path`` and its class names and input size, whatever its format."""
    from tl_helpers.deploy.runtimes import is_exported_model, load_exported
    from tl_helpers.models import load_classifier

    if is_exported_model(path):
        exported = load_exported(path)
        return exported, exported.class_names, exported.image_size
    loaded = load_classifier(path)
    return loaded.model, loaded.class_names, loaded.image_size


def _evaluate(args: argparse.Namespace) -> int:
    from tl_helpers.data.folders import all_images
    from tl_helpers.evaluation import evaluate

    model, model_classes, _ = _load_model(args.model)
    class_names, split = all_images(args.data_dir)
    if class_names != model_classes:
        raise CourseError(
            f"{args.data_dir} has classes {class_names} but {args.model} was trained on {model_classes}; "
            "evaluate on a folder with the same class sub-folders"
        )
    report = evaluate(model, split, class_names, tta=args.tta)
    if args.json:
        print(json.dumps({**report.to_dict(predictions=True), "tta": args.tta}, indent=2))
    else:
        print(
            report.table()
            + ("\n(test-time augmentation: each photo and its mirror image)" if args.tta else "")
        )
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tl_helpers.data.decode import load_image
    from tl_helpers.evaluation import prediction_entry
    from tl_helpers.models import probabilities

    model, class_names, image_size = _load_model(args.model)
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
        print(
            json.dumps(
                {
                    "model": args.model,
                    "class_names": list(class_names),
                    "tta": args.tta,
                    "predictions": predictions,
                },
                indent=2,
            )
        )
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tl_helpers", description="Transfer-learning course helpers."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data_parser = commands.add_parser("data", help="fetch and inspect the course datasets")
    data_commands = data_parser.add_subparsers(dest="data_command", required=True)
    for name, handler, text in [
        ("fetch", _data_fetch, "download (or take from the mirror) and check a dataset"),
        ("info", _data_info, "where a dataset lives and its counts per split and class"),
        (
            "manifest",
            _data_manifest,
            "maintainers: rewrite the per-file checksum list from a complete copy",
        ),
    ]:
        sub = data_commands.add_parser(name, help=text, description=text)
        sub.add_argument("name", help=f"dataset name: {', '.join(data.dataset_names())}")
        sub.add_argument(
            "--mirror", help="folder holding the dataset folders (default: $TL_MIRROR)"
        )
        sub.add_argument(
            "--data-dir",
            help="where downloads are extracted (default: $TL_DATA_DIR or datasets/data)",
        )
        sub.set_defaults(handler=handler)

    add_train_command(commands)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, per-class recall and counts of a saved model on a folder"
    )
    evaluate.add_argument("model")
    evaluate.add_argument("data_dir")
    evaluate.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of a table, with every file's probabilities",
    )
    evaluate.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average each photo's probabilities with its mirror image's",
    )
    evaluate.set_defaults(handler=_evaluate)

    predict = commands.add_parser("predict", help="the top classes of a saved model for each image")
    predict.add_argument("model")
    predict.add_argument("images", nargs="+")
    predict.add_argument("--top", type=int, default=3)
    predict.add_argument(
        "--json", action="store_true", help="print JSON: every class's probability for each image"
    )
    predict.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average each photo's probabilities with its mirror image's",
    )
    predict.set_defaults(handler=_predict)
    add_export_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for a ``CourseError``, 130 for Ctrl-C)."""
    with CtrlC() as ctrl_c:
        try:
            code = _run(argv)
        except KeyboardInterrupt:
            code = INTERRUPTED
        except Exception:
            if not ctrl_c.received:
                raise
            code = INTERRUPTED  # an error Ctrl-C caused on its way (see tl_helpers.interrupts)
        ctrl_c.reached()
    if ctrl_c.received or code == INTERRUPTED:
        # Every file the course writes is moved into place only once complete, so stopping here
        # leaves earlier results whole and nothing half-written to be read later.
        print(
            "\ninterrupted (Ctrl-C): stopped; nothing half-written was kept, run the command again",
            file=sys.stderr,
        )
        return INTERRUPTED
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from tl_helpers.startup import brief_course_warnings, import_tensorflow, quiet_training_logs

    brief_course_warnings()
    if (
        args.command != "data"
    ):  # TensorFlow's C++ start-up notices would land on the learner's terminal
        import_tensorflow()
        quiet_training_logs()
    try:
        return args.handler(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
