"""Reading PyTorch state dicts without PyTorch, and refusing anything that is not plain tensors."""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from tl_helpers.backbones.efficientnet_lite import weights_source
from tl_helpers.backbones.torch_pickle import (
    LEGACY_MAGIC,
    UnsafeWeightsError,
    load_torch_state_dict,
)
from tl_helpers.errors import CourseError


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of a ``torch`` module for the standard pickler to write a real state-dict pickle."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    class LongStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    for cls in (FloatStorage, LongStorage):
        cls.__module__, cls.__qualname__ = "torch", cls.__name__
        setattr(torch, cls.__name__, cls)
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = (
        "torch._utils",
        "_rebuild_tensor_v2",
    )
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Storage:
    def __init__(self, key, array, storage_type):
        self.key, self.array, self.storage_type = key, array, storage_type


class _Tensor:
    """Pickles like torch.Tensor: _rebuild_tensor_v2(storage, offset, shape, stride, ...)."""

    def __init__(self, storage, offset, shape, stride):
        self.args = (storage, offset, shape, stride, False, OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.array.size)
        return None


def _state(torch):
    """A state dict with a transposed (non-contiguous) view, a vector and an int64 scalar."""
    base = np.arange(12, dtype=np.float32)
    storage_a = _Storage("1001", base, torch.FloatStorage)
    storage_b = _Storage("1002", np.array([7], dtype=np.int64), torch.LongStorage)
    state = OrderedDict(
        [
            ("conv.weight", _Tensor(storage_a, 0, (3, 4), (4, 1))),
            ("conv.weight_t", _Tensor(storage_a, 0, (4, 3), (1, 4))),
            ("bn.bias", _Tensor(storage_a, 2, (5,), (1,))),
            ("bn.num_batches_tracked", _Tensor(storage_b, 0, (), ())),
        ]
    )
    expected = {
        "conv.weight": base.reshape(3, 4),
        "conv.weight_t": base.reshape(3, 4).T,
        "bn.bias": base[2:7],
        "bn.num_batches_tracked": np.int64(7),
    }
    return state, [storage_a, storage_b], expected


def _dumps(obj):
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_legacy(path: Path, state, storages) -> None:
    with open(path, "wb") as out:
        for header in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            out.write(pickle.dumps(header, protocol=2))
        out.write(_dumps(state))
        out.write(pickle.dumps([s.key for s in storages], protocol=2))
        for storage in storages:
            out.write(struct.pack("<q", storage.array.size))
            out.write(storage.array.astype(storage.array.dtype.newbyteorder("<")).tobytes())


def test_legacy_layout_round_trip(tmp_path, fake_torch):
    state, storages, expected = _state(fake_torch)
    write_legacy(tmp_path / "w.pth", state, storages)
    loaded = load_torch_state_dict(tmp_path / "w.pth")
    assert list(loaded) == list(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == np.asarray(array).dtype


def test_zip_layout_round_trip(tmp_path, fake_torch):
    state, storages, expected = _state(fake_torch)
    with zipfile.ZipFile(tmp_path / "w.pth", "w") as bundle:
        bundle.writestr("archive/data.pkl", _dumps(state))
        for storage in storages:
            bundle.writestr(f"archive/data/{storage.key}", storage.array.tobytes())
    loaded = load_torch_state_dict(tmp_path / "w.pth")
    for name, array in expected.items():
        np.testing.assert_array_equal(loaded[name], array)


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_would_run_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "it-ran"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as out:
        for header in (LEGACY_MAGIC, 1001, {}):
            out.write(pickle.dumps(header, protocol=2))
        out.write(pickle.dumps(OrderedDict([("weight", _RunsCode(marker))]), protocol=2))
    with pytest.raises(UnsafeWeightsError, match=r"posix\.system|os\.system"):
        load_torch_state_dict(path)
    assert not marker.exists()


def test_entries_that_are_not_tensors_are_refused(tmp_path):
    path = tmp_path / "odd.pth"
    with open(path, "wb") as out:
        for obj in (LEGACY_MAGIC, 1001, {}, {"weight": "hello"}, []):
            out.write(pickle.dumps(obj, protocol=2))
    with pytest.raises(UnsafeWeightsError, match="not a tensor"):
        load_torch_state_dict(path)


def test_a_file_that_is_not_a_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"\x00\x01 definitely not weights")
    with pytest.raises(CourseError, match="not a readable PyTorch state dict"):
        load_torch_state_dict(path)


def test_real_efficientnet_lite0_file_has_the_documented_296_entries():
    state = load_torch_state_dict(weights_source())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert {name.split(".")[1] for name in state if name.startswith("_blocks.")} == {
        str(i) for i in range(16)
    }
    assert not any("_se_" in name for name in state), "Lite has no squeeze-and-excitation"
