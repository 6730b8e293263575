"""Command line: one entry point, one module per command.

    python -m tl_helpers data fetch NAME          download (or take from the mirror) and check a dataset
    python -m tl_helpers data info NAME           where it lives; counts per split and class
    python -m tl_helpers train DATA_DIR --out model.keras [--fast] [--backbone B] [--blocks N] [--epochs E]
                                [--strategy {auto,mirrored,multi-worker}] [--backup-dir DIR]
    python -m tl_helpers evaluate MODEL DATA_DIR [--json] [--tta]
    python -m tl_helpers predict MODEL IMAGE... [--json] [--tta]
    python -m tl_helpers export MODEL.keras --format {saved_model,litert,onnx} [--quantize Q]
                                [--calibration DATA_DIR] --out PATH
    python -m tl_helpers --version

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
import sys
from collections.abc import Sequence

from tl_helpers.cli.data import add_data_commands
from tl_helpers.cli.evaluate import add_evaluate_command
from tl_helpers.cli.export import add_export_command
from tl_helpers.cli.predict import add_predict_command
from tl_helpers.cli.train import add_train_command, train_recipe
from tl_helpers.errors import CourseError
from tl_helpers.interrupts import INTERRUPTED, CtrlC, say_interrupted

__all__ = ["build_parser", "main", "train_recipe"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every sub-command, each from its own module."""
    from tl_helpers import __version__

    parser = argparse.ArgumentParser(
        prog="python -m tl_helpers", description="Transfer-learning course helpers."
    )
    parser.add_argument("--version", action="version", version=f"tl_helpers {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (
        add_data_commands,
        add_train_command,
        add_evaluate_command,
        add_predict_command,
        add_export_command,
    ):
        add_command(commands)
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
        say_interrupted()
        return INTERRUPTED
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from tl_helpers.startup import brief_course_warnings, import_tensorflow, quiet_training_logs

    brief_course_warnings()
    if args.command != "data":  # TensorFlow's C++ start-up notices would reach the terminal
        import_tensorflow()
        quiet_training_logs()
    try:
        return args.handler(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
