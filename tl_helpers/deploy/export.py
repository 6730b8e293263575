"""Export a ``.keras`` classifier for deployment: SavedModel, LiteRT (quantized or not) or ONNX.

Keras 3's own ``model.export(path, format=...)`` does each conversion; for LiteRT it converts
through a SavedModel with TensorFlow's ``TFLiteConverter``, and the quantization settings below
are passed straight to that converter. (Older code calls ``tf.lite.TFLiteConverter
.from_keras_model(model)`` itself, or saves with ``model.save("folder")`` and converts the
folder; ``model.export`` replaces both in Keras 3.)

Every exported model keeps the course's contract: 0-255 RGB images at the model's input size in,
one probability per class out (the preprocessing is inside; a two-class model's single sigmoid
becomes two columns), with the class names recorded inside the file (``deploy.metadata``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tl_helpers.data.decode import load_image
from tl_helpers.data.folders import all_images
from tl_helpers.data.splits import Split
from tl_helpers.deploy import cache as export_cache
from tl_helpers.deploy.metadata import (
    FORMATS,
    METADATA_NAME,
    QUANTIZATIONS,
    SAVED_MODEL_INFO,
    ModelInfo,
    add_tflite_metadata,
)
from tl_helpers.errors import CourseError, CourseWarning, UnknownNameError
from tl_helpers.extras import require
from tl_helpers.models.build import class_names_of
from tl_helpers.models.predict import input_size
from tl_helpers.startup import is_runtime_notice, native_output_filtered
from tl_helpers.storage import atomic_path

__all__ = [
    "CALIBRATION_PHOTOS",
    "EXPORT_VARIANTS",
    "ExportError",
    "ExportedFile",
    "calibration_photos",
    "export_all",
    "export_classifier",
    "probability_model",
]

# "A few hundred" photos let the converter see each layer's range of values; chosen before
# measuring, not tuned on the test split.
CALIBRATION_PHOTOS = 300
# Every (format, quantization) the course exports and measures.
EXPORT_VARIANTS = (
    ("saved_model", "none"),
    ("litert", "none"),
    ("litert", "float16"),
    ("litert", "dynamic"),
    ("litert", "int8"),
    ("onnx", "none"),
)


class ExportError(CourseError):
    """An export that cannot be done as asked (bad format, missing calibration, bad path)."""


@dataclass(frozen=True)
class ExportedFile:
    """Where an export landed, what it records, and its size on disk."""

    path: Path
    info: ModelInfo

    @property
    def size_bytes(self) -> int:
        if self.path.is_dir():
            return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return self.path.stat().st_size


def probability_model(model: keras.Model) -> keras.Model:
    """``model`` with one probability per class as output: a single sigmoid ``p`` becomes
    ``[1 - p, p]``, so an app reads every exported model the same way."""
    if model.output_shape[-1] != 1:
        return model
    p = model.outputs[0]
    both = keras.ops.concatenate([1.0 - p, p], axis=-1)
    return keras.Model(model.input, both, name=f"{model.name}_probabilities")


def calibration_photos(
    source: str | os.PathLike[str] | Split, class_names: list[str], count: int = CALIBRATION_PHOTOS
) -> list[Path]:
    """Up to ``count`` training photos, spread evenly over the files sorted by name (so every
    class is represented, and the same photos every time). ``source`` is a folder of
    ``<class>/<image>`` files (checked against ``class_names``) or a training ``Split``: never
    the validation or test photos, which must stay unseen."""
    if isinstance(source, Split):
        split = source
    else:
        try:
            found, split = all_images(Path(source))
        except CourseError as error:
            raise ExportError(f"calibration folder: {error}") from error
        if sorted(found) != sorted(class_names):
            raise ExportError(
                f"the calibration folder {source} has classes {found}, but the model predicts "
                f"{class_names}; give a folder of training photos of the model's own classes"
            )
    if count < 1 or not len(split.files):
        raise ExportError("int8 calibration needs at least one photo")
    files = sorted(split.files)
    step = max(1, len(files) // count)
    return files[::step][:count]


def _representative_dataset(photos: list[Path], image_size: tuple[int, int]):  # noqa: ANN202
    def batches() -> Iterator[list[np.ndarray]]:
        for photo in photos:  # the course's one image path, as in training
            yield [load_image(photo, image_size)[None]]

    return batches


def _converter_options(quantize: str, photos: list[Path], image_size: tuple[int, int]) -> dict:
    import tensorflow as tf

    if quantize == "none":
        return {}
    options: dict = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "float16":  # weights stored as float16, computed in float32
        options["target_spec"] = {"supported_types": [tf.float16]}
    elif quantize == "int8":  # weights and activations int8; float 0-255 in, probabilities out
        options["representative_dataset"] = _representative_dataset(photos, image_size)
    return options  # "dynamic": weights int8, activations quantized on the fly


def _check_request(out: Path, format: str, quantize: str, calibration: object) -> None:
    if format not in FORMATS:
        raise UnknownNameError("export format", format, FORMATS)
    if quantize not in QUANTIZATIONS:
        raise UnknownNameError("quantization", quantize, QUANTIZATIONS)
    if quantize != "none" and format != "litert":
        raise ExportError(
            f"quantization {quantize!r} is for LiteRT only; {format} keeps float32 weights "
            "(use --format litert, or --quantize none)"
        )
    if quantize == "int8" and calibration is None:
        raise ExportError(
            "int8 needs calibration photos to measure each layer's range of values: give "
            "--calibration DATA_DIR, a folder of a few hundred training photos in class sub-folders"
        )
    suffix = FORMATS[format]
    if suffix and out.suffix != suffix:
        raise ExportError(f"a {format} model is one file ending in {suffix}; got {out.name}")
    if not suffix and out.suffix in {".keras", ".tflite", ".onnx", ".h5"}:
        raise ExportError(f"a SavedModel is a folder; give a folder name without {out.suffix}")
    if not out.parent.is_dir():
        raise ExportError(
            f"the folder {out.parent} does not exist: create it first, or choose another output path"
        )


def export_classifier(
    model: keras.Model,
    out: str | os.PathLike[str],
    *,
    format: str = "litert",
    quantize: str = "none",
    calibration: str | os.PathLike[str] | Split | None = None,
    calibration_count: int = CALIBRATION_PHOTOS,
    cache: bool = True,
) -> ExportedFile:
    """Export a classifier to ``out`` (``.tflite``, ``.onnx`` or a SavedModel folder).

    ``quantize`` (LiteRT only): ``"float16"`` halves the file; ``"dynamic"`` stores weights as
    int8; ``"int8"`` also computes in int8, calibrated on ``calibration_count`` training photos
    from ``calibration`` (a folder or a training ``Split``, see ``calibration_photos``; never
    validation or test photos). The file appears only once
    complete: an interrupted or failed export leaves nothing at ``out``. With ``cache``, the
    same model exported the same way before is copied from the export cache (``deploy.cache``:
    keyed by the weights' bytes, the request, the code and the library versions).
    """
    out = Path(out)
    _check_request(out, format, quantize, calibration)
    class_names, image_size = class_names_of(model), input_size(model)
    photos = (
        calibration_photos(calibration, class_names, calibration_count)
        if quantize == "int8" and calibration is not None
        else []
    )
    info = ModelInfo(tuple(class_names), image_size, format, quantize)
    key = export_cache.export_key(model, format, quantize, photos, info.to_json()) if cache else ""
    # Whole or absent: an earlier export at out is replaced only once this one is complete, and a
    # full or read-only disk is one line.
    with atomic_path(out) as temporary:
        cached = export_cache.find(key) if key else None
        if cached is not None:
            export_cache.copy(cached, temporary)
        else:
            _convert(model, temporary, info, photos)
            if key:
                _keep(key, temporary)
    return ExportedFile(out, info)


def _keep(key: str, exported: Path) -> None:
    try:
        export_cache.keep(key, exported)
    except CourseError as error:  # a full cache disk must not fail an export that succeeded
        warnings.warn(f"the export was not cached: {error}", CourseWarning, stacklevel=3)


def _convert(model: keras.Model, temporary: Path, info: ModelInfo, photos: list[Path]) -> None:
    """The conversion itself, into ``temporary`` (a file, or a folder for a SavedModel)."""
    format, quantize, image_size = info.format, info.quantize, info.image_size
    exportable = probability_model(model)
    exportable(
        np.zeros((1, *image_size, 3), np.float32)
    )  # the ONNX exporter wants a model called once
    with native_output_filtered(is_runtime_notice), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probing np.object
        if format == "saved_model":
            exportable.export(temporary, format="tf_saved_model", verbose=False)
            (temporary / SAVED_MODEL_INFO).parent.mkdir(exist_ok=True)
            (temporary / SAVED_MODEL_INFO).write_text(info.to_json())
        elif format == "litert":
            options = _converter_options(quantize, photos, image_size)
            exportable.export(temporary, format="litert", verbose=False, **options)
            payload = info.to_json().encode()
            temporary.write_bytes(
                add_tflite_metadata(temporary.read_bytes(), METADATA_NAME, payload)
            )
        else:
            onnx = require("onnx", "Exporting to ONNX")
            require("tf2onnx", "Exporting to ONNX")  # what Keras converts with

            exportable.export(temporary, format="onnx", verbose=False)
            proto = onnx.load(str(temporary))
            onnx.helper.set_model_props(proto, {METADATA_NAME: info.to_json()})
            onnx.save(proto, str(temporary))


def export_all(
    model: keras.Model,
    folder: str | os.PathLike[str],
    calibration: str | os.PathLike[str] | Split | None,
    *,
    name: str = "model",
    variants: Sequence[tuple[str, str]] = EXPORT_VARIANTS,
    cache: bool = True,
) -> list[ExportedFile]:
    """Export ``model`` in each ``(format, quantization)`` of ``variants`` into ``folder``, named
    ``<name>_<quantization>.tflite``, ``<name>.onnx``, ``<name>_saved_model`` (``cache``: see
    ``export_classifier``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    exported = []
    for format, quantize in variants:
        if format == "litert":
            out = folder / f"{name}_{'float32' if quantize == 'none' else quantize}.tflite"
        else:
            out = folder / (f"{name}.onnx" if format == "onnx" else f"{name}_saved_model")
        exported.append(
            export_classifier(
                model, out, format=format, quantize=quantize, calibration=calibration, cache=cache
            )
        )
    return exported
