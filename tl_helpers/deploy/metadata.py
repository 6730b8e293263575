"""What an exported model must carry besides its weights: its class names and input size.

Every exported model holds them *inside* itself, as one small JSON record named ``tl_helpers``,
so the file cannot be separated from its labels:

- LiteRT (``.tflite``): an entry of the flatbuffer's ``metadata`` list (read back without
  TensorFlow, with the schema that ``ai-edge-litert`` ships);
- ONNX (``.onnx``): a ``metadata_props`` entry of the model;
- SavedModel (a folder): ``assets.extra/tl_helpers.json``, the folder TensorFlow sets aside for
  files that travel with a model but are not part of its graph.

Nothing here imports TensorFlow, so an app-side reader stays light.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tl_helpers.errors import CourseError
from tl_helpers.extras import require

__all__ = [
    "FORMATS",
    "METADATA_NAME",
    "QUANTIZATIONS",
    "SAVED_MODEL_INFO",
    "ModelInfo",
    "add_tflite_metadata",
    "read_model_info",
    "read_tflite_metadata",
]

# Format -> the file name ending it needs ("": a folder); the quantizations LiteRT offers.
FORMATS = {"saved_model": "", "litert": ".tflite", "onnx": ".onnx"}
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
METADATA_NAME = "tl_helpers"
SAVED_MODEL_INFO = Path("assets.extra") / f"{METADATA_NAME}.json"


@dataclass(frozen=True)
class ModelInfo:
    """What the course records in every exported model."""

    class_names: tuple[str, ...]
    image_size: tuple[int, int]  # (height, width) of the 0-255 RGB images it takes
    format: str  # "saved_model", "litert" or "onnx"
    quantize: str  # "none", "float16", "dynamic" or "int8"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes, source: Path) -> ModelInfo:
        try:
            record = json.loads(text)
            return cls(
                tuple(str(name) for name in record["class_names"]),
                (int(record["image_size"][0]), int(record["image_size"][1])),
                str(record["format"]),
                str(record["quantize"]),
            )
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise CourseError(
                f"{source}: its {METADATA_NAME} record is damaged ({error}); export the model again"
            ) from error


def add_tflite_metadata(model_bytes: bytes, name: str, payload: bytes) -> bytes:
    """A copy of a ``.tflite`` flatbuffer with one more named metadata entry."""
    import flatbuffers
    import numpy as np

    schema = require("ai_edge_litert.schema_py_generated", "Reading a LiteRT model")

    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers = [*(model.buffers or []), buffer]
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_tflite_metadata(model_bytes: bytes, name: str) -> bytes | None:
    """The payload of a ``.tflite`` file's metadata entry called ``name``, or None."""
    schema = require("ai_edge_litert.schema_py_generated", "Reading a LiteRT model")

    model = schema.Model.GetRootAs(model_bytes, 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry is not None and entry.Name() == name.encode():
            buffer = model.Buffers(entry.Buffer())
            return None if buffer is None else buffer.DataAsNumpy().tobytes()
    return None


def _read_record(path: Path) -> bytes | str | None:
    if path.is_dir():
        info_file = path / SAVED_MODEL_INFO
        return info_file.read_text() if info_file.is_file() else None
    if path.suffix == ".tflite":
        if path.read_bytes()[4:8] != b"TFL3":  # a flatbuffer's file identifier
            raise CourseError(f"{path} is not a LiteRT model (no TFL3 identifier); export it again")
        return read_tflite_metadata(path.read_bytes(), METADATA_NAME)
    if path.suffix == ".onnx":
        onnx = require("onnx", "Reading an ONNX model")

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as error:  # onnx raises protobuf's DecodeError and others
            raise CourseError(f"{path} is not an ONNX model ({error}); export it again") from error
        props = {prop.key: prop.value for prop in model.metadata_props}
        return props.get(METADATA_NAME)
    raise CourseError(
        f"{path}: not an exported model; give a .tflite file, an .onnx file or a SavedModel folder"
    )


def read_model_info(path: str | Path) -> ModelInfo:
    """The class names, input size, format and quantization recorded in an exported model."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"no exported model at {path}")
    record = _read_record(path)
    if record is None:
        raise CourseError(
            f"{path} carries no {METADATA_NAME} record (class names and input size): it was not "
            "exported by the course; export the .keras model with `python -m tl_helpers export`"
        )
    return ModelInfo.from_json(record, path)
