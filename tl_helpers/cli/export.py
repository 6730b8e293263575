"""The ``export`` command: a ``.keras`` classifier as a SavedModel, a LiteRT (``.tflite``) or an
ONNX file, with its class names and input size inside. TensorFlow is imported only when the
command runs."""

from __future__ import annotations

import argparse

from tl_helpers.deploy.metadata import FORMATS, QUANTIZATIONS

__all__ = ["add_export_command"]


def _export(args: argparse.Namespace) -> int:
    from tl_helpers.deploy.export import export_classifier
    from tl_helpers.models import load_classifier

    loaded = load_classifier(args.model)
    exported = export_classifier(
        loaded.model,
        args.out,
        format=args.format,
        quantize=args.quantize,
        calibration=args.calibration,
        cache=not args.no_cache,
    )
    info = exported.info
    print(
        f"exported {exported.path} ({info.format}, quantization {info.quantize}, "
        f"{exported.size_bytes / 1e6:.1f} MB): 0-255 RGB images of {info.image_size[0]}x{info.image_size[1]} "
        f"in, probabilities of {', '.join(info.class_names)} out; class names and input size are "
        "recorded inside the model"
    )
    return 0


def add_export_command(commands: argparse._SubParsersAction) -> None:
    """Add ``export MODEL.keras --format F [--quantize Q] [--calibration DIR] --out PATH`` to the
    command line's sub-commands."""
    export = commands.add_parser(
        "export", help="export a .keras classifier to SavedModel, LiteRT or ONNX"
    )
    export.add_argument("model", help="the .keras file to export")
    export.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="saved_model: TensorFlow Serving and TF.js; litert: phones and small boards; "
        "onnx: ONNX Runtime, in any language",
    )
    export.add_argument(
        "--quantize",
        default="none",
        choices=QUANTIZATIONS,
        help="LiteRT only: float16 weights, dynamic (int8 weights) or int8 (weights and "
        "activations, needs --calibration)",
    )
    export.add_argument(
        "--calibration", help="folder of training photos in class sub-folders, for --quantize int8"
    )
    export.add_argument(
        "--out", required=True, help="a .tflite or .onnx file, or a folder for a SavedModel"
    )
    export.add_argument(
        "--no-cache",
        action="store_true",
        help="convert even when the same model was exported the same way before (by default "
        "that export is copied from the cache folder, TL_CACHE_DIR)",
    )
    export.set_defaults(handler=_export)
