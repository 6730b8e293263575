"""Run an exported model with its own runtime: the LiteRT interpreter (``ai-edge-litert``, the
successor of ``tf.lite.Interpreter``), ONNX Runtime, or TensorFlow for a SavedModel.

``load_exported(path)`` gives an ``ExportedClassifier`` whose ``probabilities(images)`` takes
the same 0-255 batches as a Keras classifier, so ``tl.probabilities``, ``tl.evaluate`` and the
``predict``/``evaluate`` commands accept exported models as they accept ``.keras`` files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tl_helpers.deploy.metadata import ModelInfo, read_model_info
from tl_helpers.errors import CourseError
from tl_helpers.extras import require
from tl_helpers.startup import is_runtime_notice, native_output_filtered

__all__ = ["EXPORTED_SUFFIXES", "ExportedClassifier", "is_exported_model", "load_exported"]

EXPORTED_SUFFIXES = (".tflite", ".onnx")  # and a SavedModel folder


def is_exported_model(path: str | os.PathLike[str]) -> bool:
    """True for a path the export formats use: a ``.tflite`` or ``.onnx`` file, or a folder."""
    path = Path(path)
    return path.suffix in EXPORTED_SUFFIXES or path.is_dir()


def _litert_runner(path: Path, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
    Interpreter = require("ai_edge_litert.interpreter", "Running a LiteRT model").Interpreter

    try:
        with native_output_filtered(is_runtime_notice):  # "INFO: Created ... XNNPACK delegate"
            interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count())
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise CourseError(
            f"{path} could not be loaded by the LiteRT interpreter: {error}"
        ) from error
    image_input = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]
    allocated: list[tuple[int, ...]] = []

    def run(images: np.ndarray) -> np.ndarray:
        if allocated != [images.shape]:  # the batch size changed: resize once, not per call
            with native_output_filtered(is_runtime_notice):  # XNNPACK may announce itself again
                interpreter.resize_tensor_input(image_input, images.shape)
                interpreter.allocate_tensors()
            allocated[:] = [images.shape]
        interpreter.set_tensor(image_input, images)
        interpreter.invoke()
        return interpreter.get_tensor(output).copy()

    return run


def _onnx_runner(path: Path, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
    onnxruntime = require("onnxruntime", "Running an ONNX model")

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default, every core
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own Fail / InvalidProtobuf types
        raise CourseError(f"{path} could not be loaded by ONNX Runtime: {error}") from error
    input_name = session.get_inputs()[0].name
    return lambda images: np.asarray(session.run(None, {input_name: images})[0])


def _saved_model_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        loaded.serve  # noqa: B018 - fails here, not at the first photo, if there is no endpoint
    except (OSError, ValueError, AttributeError) as error:
        raise CourseError(f"{path} could not be loaded as a SavedModel: {error}") from error
    # ``loaded`` must stay referenced: its variables die with it, even while ``serve`` lives.
    return lambda images: loaded.serve(tf.constant(images)).numpy()


class ExportedClassifier:
    """An exported model and its runtime. ``threads`` (LiteRT and ONNX Runtime; ``None``: all
    cores) sets how many CPU threads one call may use; a SavedModel uses TensorFlow's setting."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        self.path = Path(path)
        self.info: ModelInfo = read_model_info(self.path)
        self.threads = threads
        if self.info.format == "litert":
            self._run = _litert_runner(self.path, threads)
        elif self.info.format == "onnx":
            self._run = _onnx_runner(self.path, threads)
        else:
            self._run = _saved_model_runner(self.path)

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.info.image_size

    @property
    def format(self) -> str:
        """``"litert int8"``, ``"onnx"``...: the format, and the quantization if any."""
        quantized = self.info.quantize != "none"
        return self.info.format + (f" {self.info.quantize}" if quantized else "")

    def __repr__(self) -> str:
        return f"ExportedClassifier({self.path.name!r}, {self.format}, classes={self.class_names})"

    def probabilities(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """``(n, classes)`` probabilities for a batch of 0-255 RGB images at ``image_size``."""
        images = np.asarray(images, dtype=np.float32)
        expected = (*self.image_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected:
            hint = " (one image needs a batch axis: image[None])" if images.ndim == 3 else ""
            raise CourseError(
                f"images of shape {images.shape} do not fit {self.path.name}, which takes batches "
                f"of {expected} 0-255 RGB images{hint}; load photos with "
                f"load_image(path, {self.image_size}), which resizes them"
            )
        chunks = [
            self._run(np.ascontiguousarray(images[start : start + batch_size]))
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.class_names)))


def load_exported(path: str | os.PathLike[str], threads: int | None = None) -> ExportedClassifier:
    """Load a ``.tflite``, ``.onnx`` or SavedModel folder exported by ``export_classifier``."""
    return ExportedClassifier(path, threads)
