"""The frozen pass on ONNX Runtime, where it gives Keras's numbers faster.

Feature extraction runs the frozen base once over every photo, and on a CPU that pass is most of
a notebook's first run. Measured here (``benchmarks/frozen_pass_runtime.py``), ONNX Runtime runs
the same network about 2.5 times as fast as Keras on batches of 32, with features within 2e-5 of
Keras's. So on a machine without a GPU, for a split large enough to repay the conversion
(``MIN_IMAGES``), the pass runs on ONNX Runtime:

1. the frozen model is converted once with Keras's own ``model.export(format="onnx")`` and kept in
   the cache folder, keyed by its architecture, the bytes of its weights, this module's code and
   the converting libraries' versions;
2. once per conversion, ONNX Runtime and Keras run the same ``PROBE_IMAGES`` seeded random images;
   the largest difference is kept beside the converted file. Above ``TOLERANCE`` the pass stays on
   Keras, with a warning that says so;
3. the runtime that ran is part of the feature cache's key, so features of one runtime are never
   read back as the other's.

With a GPU, a distribution strategy over several devices, a small split, or without ONNX Runtime
installed, the pass runs on Keras, as before. ``runtime="keras"`` asks for Keras always.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tl_helpers import config
from tl_helpers.errors import CourseError, CourseWarning, UnknownNameError
from tl_helpers.extras import require
from tl_helpers.fingerprints import code_fingerprint, update_with_model
from tl_helpers.startup import is_runtime_notice, native_output_filtered
from tl_helpers.storage import atomic_path, save_json

__all__ = [
    "MIN_IMAGES",
    "PROBE_IMAGES",
    "RUNTIMES",
    "TOLERANCE",
    "FrozenRunner",
    "chosen_runtime",
    "frozen_runner",
]

RUNTIMES = ("auto", "keras", "onnx")
TOLERANCE = 1e-3  # largest absolute difference allowed in an output (features are about 0-10)
PROBE_IMAGES = 4
MIN_IMAGES = 256  # below this the conversion (seconds per backbone) costs more than it saves
_LIBRARIES = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime")


@dataclass(frozen=True)
class FrozenRunner:
    """A frozen network ready to run: ``run`` takes a float32 batch of 0-255 images (or of
    activations, for the top of a cut base) and returns a NumPy array."""

    runtime: str  # "keras" or "onnx"
    run: Callable[[np.ndarray], np.ndarray]
    max_difference: float | None = None  # ONNX Runtime against Keras on the probe images


def _onnx_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tf2onnx"))


def chosen_runtime(runtime: str, images: int, several_devices: bool = False) -> str:
    """Which runtime a pass over ``images`` photos will run on: decided before anything is built,
    so that a cache lookup can use it. ``"auto"`` is ONNX Runtime on a machine without a GPU, for
    ``MIN_IMAGES`` photos or more, on one device, with ONNX Runtime installed; else Keras."""
    if runtime not in RUNTIMES:
        raise UnknownNameError("frozen-pass runtime", runtime, RUNTIMES)
    if runtime != "auto":
        return runtime
    import tensorflow as tf

    if several_devices or images < MIN_IMAGES or tf.config.list_physical_devices("GPU"):
        return "keras"
    return "onnx" if _onnx_installed() else "keras"


def _keras_runner(model: keras.Model) -> FrozenRunner:
    return FrozenRunner("keras", lambda batch: np.asarray(model(batch, training=False)))


def _conversion_key(model: keras.Model) -> str:
    digest = hashlib.sha256(code_fingerprint((__name__,), _LIBRARIES).encode())
    update_with_model(digest, model)
    return digest.hexdigest()[:40]


def _converted(model: keras.Model, path: Path) -> None:
    require("tf2onnx", "Running the frozen pass on ONNX Runtime")
    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # the exporter wants a called model
    with atomic_path(path) as temporary:
        with native_output_filtered(is_runtime_notice), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probing np.object
            model.export(str(temporary), format="onnx", verbose=False)


def _session(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    onnxruntime = require("onnxruntime", "Running the frozen pass on ONNX Runtime")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own types; a broken entry is rebuilt
        path.unlink(missing_ok=True)
        message = f"the converted frozen model {path} could not be loaded: {error}"
        raise CourseError(message) from error
    name = session.get_inputs()[0].name
    return lambda batch: np.asarray(session.run(None, {name: np.asarray(batch, np.float32)})[0])


def _probe(model: keras.Model) -> np.ndarray:
    shape = (PROBE_IMAGES, *model.input_shape[1:])
    return np.random.default_rng(0).uniform(0, 255, size=shape).astype(np.float32)


def frozen_runner(model: keras.Model, runtime: str = "onnx") -> FrozenRunner:
    """``model`` (frozen, one input, one output) ready to run on ``runtime``: ``"keras"``, or
    ``"onnx"`` after the conversion and the check against Keras described in the module
    docstring. If ONNX Runtime's outputs differ by more than ``TOLERANCE``, or the conversion
    fails, the runner is Keras's, with a warning."""
    if runtime not in ("keras", "onnx"):
        raise UnknownNameError("frozen-pass runtime", runtime, ("keras", "onnx"))
    if runtime == "keras":
        return _keras_runner(model)
    folder = config.cache_dir() / "frozen_onnx"
    path = folder / f"{_conversion_key(model)}.onnx"
    record = path.with_suffix(".json")
    try:
        if not path.exists():
            record.unlink(missing_ok=True)
            _converted(model, path)
        run = _session(path)
        if record.exists():
            difference = float(json.loads(record.read_text())["max_difference"])
        else:
            probe = _probe(model)
            difference = float(np.abs(run(probe) - np.asarray(model(probe, training=False))).max())
            save_json(record, {"max_difference": difference, "tolerance": TOLERANCE})
    except (CourseError, ValueError, TypeError, RuntimeError, OSError) as error:
        warnings.warn(
            f"the frozen pass runs on Keras: converting {model.name} for ONNX Runtime failed "
            f"({str(error).splitlines()[0] if str(error) else type(error).__name__})",
            CourseWarning,
            stacklevel=2,
        )
        return _keras_runner(model)
    if difference > TOLERANCE:
        warnings.warn(
            f"the frozen pass runs on Keras: ONNX Runtime's outputs for {model.name} differ from "
            f"Keras's by up to {difference:.2g}, more than {TOLERANCE:g}",
            CourseWarning,
            stacklevel=2,
        )
        return _keras_runner(model)
    return FrozenRunner("onnx", run, difference)
