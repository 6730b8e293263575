"""Faults a classroom machine meets, each built on the fly: damaged cache files, folder settings
that point at the wrong thing, two processes writing one cache entry, a saved model interrupted
halfway, and Ctrl-C handling in-process. (Ctrl-C on real commands: tests/test_processes.py.)"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from tl_helpers import cli, config
from tl_helpers.backbones import build_backbone
from tl_helpers.backbones import efficientnet_lite as lite
from tl_helpers.data.folders import folder_splits
from tl_helpers.errors import CourseWarning, SettingsError
from tl_helpers.interrupts import INTERRUPTED, CtrlC
from tl_helpers.models import build_classifier, load_classifier
from tl_helpers.models.saving import ModelFileError, check_model_path, save_classifier
from tl_helpers.storage import (
    atomic_path,
    read_arrays,
    read_json,
    rows_match,
    save_arrays,
    save_json,
)
from tl_helpers.training import cache_key, extract_activations, extract_features, split_backbone

SIZE = 64
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _flip_middle_byte(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    return bytes(damaged)


# How cache files get damaged: a copy or a full disk cuts them short, a bad sector flips a bit,
# something else writes over them, a crash leaves an empty file.
DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "bit flipped": _flip_middle_byte,
    "overwritten": lambda data: b"this is not a NumPy archive\n" * 20,
    "empty": lambda data: b"",
}


def _damage(path: Path, how: str) -> None:
    path.write_bytes(DAMAGE[how](path.read_bytes()))


def _no_partial_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if ".partial" in path.name)


# --------------------------------------------------------------------------------------------
# Writing whole or not at all; reading a damaged entry as missing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_array_file_reads_as_missing_with_a_warning_naming_it(tmp_path, how):
    path = save_arrays(tmp_path / "entry.npz", values=np.arange(50_000, dtype=np.float32))
    assert read_arrays(path, ("values",)) is not None
    _damage(path, how)
    with pytest.warns(CourseWarning, match=f"cache file {path} is damaged"):
        assert read_arrays(path, ("values",)) is None
    assert read_arrays(tmp_path / "absent.npz", ("values",)) is None  # missing: no warning


def test_saved_arrays_keep_exactly_their_names_and_refuse_objects(tmp_path):
    """Only the arrays given are stored (NumPy 2.0's savez would store an ``allow_pickle``
    keyword as one more array), and an object array, which only pickle could store, is refused."""
    path = save_arrays(tmp_path / "entry.npz", **{"conv/0": np.ones(2), "conv/1": np.zeros(3)})
    assert sorted(read_arrays(path, ()) or {}) == ["conv/0", "conv/1"]
    with pytest.raises(ValueError, match=r"\['names'\] hold objects"):
        save_arrays(tmp_path / "bad.npz", names=np.array([{"a": 1}], dtype=object))
    assert not (tmp_path / "bad.npz").exists()


def test_an_entry_with_the_wrong_number_of_rows_reads_as_missing(tmp_path):
    path = save_arrays(tmp_path / "entry.npz", features=np.zeros((7, 4), np.float32))
    assert read_arrays(path, ("features",), rows_match(7)) is not None
    with pytest.warns(CourseWarning, match=r"rows \{'features': 7\} where 9 were expected"):
        assert read_arrays(path, ("features",), rows_match(9)) is None


def test_an_interrupted_write_leaves_the_previous_file_and_no_partial_file(tmp_path):
    target = save_json(tmp_path / "record.json", {"version": 1})
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text('{"version": 2, "half')
        raise KeyboardInterrupt
    assert target.read_text() == save_json(tmp_path / "same.json", {"version": 1}).read_text()
    assert _no_partial_files(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    reference = tmp_path / "plain.txt"
    reference.write_text("x")
    written = save_arrays(tmp_path / "entry.npz", values=np.zeros(3))
    assert written.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


# --------------------------------------------------------------------------------------------
# The three caches: damaged entries are recomputed and replaced
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["truncated", "bit flipped", "overwritten"])
def test_a_damaged_feature_cache_is_recomputed_and_replaced(colour_folder, fresh_cache, how):
    split = folder_splits(colour_folder).train
    first = extract_features("efficientnet_lite0", split, image_size=SIZE, verbose=False)
    key = cache_key("efficientnet_lite0", "imagenet", (SIZE, SIZE), split)
    path = config.cache_dir() / "features" / f"{key}.npz"
    _damage(path, how)
    with pytest.warns(CourseWarning, match=f"{key}.npz is damaged"):
        again = extract_features("efficientnet_lite0", split, image_size=SIZE, verbose=False)
    assert not again.from_cache
    np.testing.assert_allclose(again.features, first.features, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CourseWarning)  # the replaced entry reads cleanly
        third = extract_features("efficientnet_lite0", split, image_size=SIZE, verbose=False)
    assert third.from_cache
    np.testing.assert_array_equal(third.features, again.features)


def test_a_damaged_activation_cache_is_recomputed_and_replaced(
    colour_folder, tmp_path, monkeypatch
):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))  # this test's entry only
    split = folder_splits(colour_folder).validation
    parts = split_backbone(build_backbone("efficientnet_lite0", (SIZE, SIZE)), 2)
    first = extract_activations(parts, split, verbose=False)
    folder = config.cache_dir() / "activations"
    (path,) = [p for p in folder.glob(f"*{parts.cache_name}-flips.npz")]
    _damage(path, "truncated")
    with pytest.warns(CourseWarning, match="is damaged"):
        again = extract_activations(parts, split, verbose=False)
    assert not again.from_cache
    np.testing.assert_array_equal(again.flipped, first.flipped)
    assert extract_activations(parts, split, verbose=False).from_cache


def test_damaged_converted_weights_are_converted_again(tmp_path, monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path))
    first = lite.imagenet_weights()
    (cached,) = (tmp_path / "weights").glob("efficientnet_lite0-*.npz")
    _damage(cached, "truncated")
    with pytest.warns(CourseWarning, match=f"{cached.name} is damaged"):
        again = lite.imagenet_weights()
    assert sorted(again) == sorted(first)
    np.testing.assert_array_equal(again["stem_conv"][0], first["stem_conv"][0])
    assert read_arrays(cached, ()) is not None


# --------------------------------------------------------------------------------------------
# Folder settings that point at the wrong thing
# --------------------------------------------------------------------------------------------


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("a file, not a folder")
    return path


@pytest.mark.parametrize(
    "variable, getter", [("TL_CACHE_DIR", config.cache_dir), ("TL_DATA_DIR", config.data_dir)]
)
@pytest.mark.parametrize("fault", ["names a file", "cannot be created"])
def test_a_folder_setting_that_is_a_file_names_the_variable_and_the_path(
    tmp_path, monkeypatch, variable, getter, fault
):
    target = _file(tmp_path) if fault == "names a file" else _file(tmp_path) / "inside"
    monkeypatch.setenv(variable, str(target))
    with pytest.raises(SettingsError, match=f"{variable}={target} {fault}") as raised:
        getter()
    assert "unset" in str(raised.value)  # and says how to go back to the default


@pytest.mark.parametrize("fault", ["does not exist", "names a file"])
def test_a_mirror_setting_that_is_not_a_folder_is_refused(tmp_path, monkeypatch, fault):
    target = tmp_path / "no_such_mirror" if fault == "does not exist" else _file(tmp_path)
    monkeypatch.setenv("TL_MIRROR", str(target))
    with pytest.raises(SettingsError, match=f"TL_MIRROR={target} names a"):
        config.mirror_dir()
    monkeypatch.delenv("TL_MIRROR")
    assert config.mirror_dir() is None


def _run_cli(*arguments: str, env: dict[str, str], prefix: tuple[str, ...] = ()):
    return subprocess.run(
        [*prefix, sys.executable, "-m", "tl_helpers", *arguments],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        cwd=PROJECT_ROOT,
        timeout=300,
    )


@pytest.mark.parametrize(
    "variable, fault, command",
    [
        ("TL_MIRROR", "missing", ("data", "info", "flowers")),
        ("TL_MIRROR", "missing", ("data", "fetch", "flowers")),
        ("TL_DATA_DIR", "file", ("data", "info", "flowers")),
        ("TL_DATA_DIR", "file", ("data", "fetch", "cats_vs_dogs")),
    ],
)
def test_every_data_command_gives_one_clear_message(tmp_path, variable, fault, command):
    value = tmp_path / "nowhere" if fault == "missing" else _file(tmp_path)
    result = _run_cli(*command, env={variable: str(value), "TL_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {variable}={value} names a" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_train_checks_the_cache_setting_before_any_work(colour_folder, tmp_path):
    setting = _file(tmp_path)
    result = _run_cli(
        "train", str(colour_folder), "--out", str(tmp_path / "m.keras"), "--fast",
        env={"TL_CACHE_DIR": str(setting)},
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"TL_CACHE_DIR={setting} names a file, not a folder" in result.stderr
    assert "head epoch" not in result.stdout and not (tmp_path / "m.keras").exists()


def test_a_read_only_folder_setting_is_refused(tmp_path):
    """A read-only TL_DATA_DIR gives the message, not a PermissionError. An ordinary user gets a
    folder without write permission; root may write there anyway, so as root the command runs
    with a read-only file system mounted on the folder, in a mount namespace of its own."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without `unshare`: no way to build a read-only folder")
        prefix = (
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"',
            str(folder),
        )
    else:
        folder.chmod(0o555)
    result = _run_cli("data", "info", "flowers", env={"TL_DATA_DIR": str(folder)}, prefix=prefix)
    if "mount" in result.stderr and "tl_helpers" not in result.stderr:
        pytest.skip(f"could not mount a read-only folder here: {result.stderr.strip()}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"TL_DATA_DIR={folder} is a read-only folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_path_that_cannot_be_written_is_refused_before_training(tmp_path):
    with pytest.raises(ModelFileError, match="ending in .keras"):
        check_model_path(tmp_path / "model.h5")
    (tmp_path / "folder.keras").mkdir()
    with pytest.raises(ModelFileError, match="is a folder"):
        check_model_path(tmp_path / "folder.keras")
    with pytest.raises(ModelFileError, match="cannot create the folder"):
        check_model_path(_file(tmp_path) / "model.keras")
    assert check_model_path(tmp_path / "new" / "model.keras").parent.is_dir()


def test_a_model_save_interrupted_halfway_keeps_the_previous_model(tmp_path, monkeypatch):
    model = build_classifier(
        "efficientnet_lite0", 3, image_size=(SIZE, SIZE), weights=None, class_names=["a", "b", "c"]
    )
    target = save_classifier(model, tmp_path / "model.keras")
    before = target.read_bytes()

    def save_half(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(before[: len(before) // 3])
        raise KeyboardInterrupt

    monkeypatch.setattr(type(model), "save", save_half)
    with pytest.raises(KeyboardInterrupt):
        save_classifier(model, target)
    assert target.read_bytes() == before and _no_partial_files(tmp_path) == []
    assert load_classifier(target).class_names == ["a", "b", "c"]


# --------------------------------------------------------------------------------------------
# Two processes writing the same cache entry
# --------------------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from tl_helpers.storage import save_arrays
    value = int(sys.argv[2])
    for _ in range(40):
        save_arrays(sys.argv[1], values=np.full(300_000, value, np.int32))
    """
)


def test_two_processes_writing_one_entry_never_leave_a_mixed_or_broken_file(tmp_path):
    path = tmp_path / "shared.npz"
    save_arrays(path, values=np.full(300_000, 0, np.int32))
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(value)], cwd=PROJECT_ROOT)
        for value in (1, 2)
    ]
    seen = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CourseWarning)  # a damaged read would fail here
        while any(writer.poll() is None for writer in writers):
            values = read_arrays(path, ("values",))["values"]
            assert len(values) == 300_000 and len(np.unique(values)) == 1, "a mixed entry"
            seen.add(int(values[0]))
    assert [writer.returncode for writer in writers] == [0, 0]
    assert read_arrays(path, ("values",))["values"][0] in (1, 2)
    assert seen - {0}, "the reader never saw a writer's entry"
    assert _no_partial_files(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Ctrl-C, in-process (real commands interrupted: tests/test_processes.py)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def sigint_raises():
    """SIGINT handled as Python does for a command started from a terminal (a CI job may run
    with it ignored); the handler found is put back afterwards."""
    found = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, found)


def test_ctrl_c_raises_once_and_again_if_the_first_was_lost(sigint_raises):
    with CtrlC(deliver_again_after=0.2) as ctrl_c:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        assert ctrl_c.received
        # The first KeyboardInterrupt was swallowed above (as C++ code sometimes does); the
        # signal comes again, so the command still stops.
        with pytest.raises(KeyboardInterrupt):
            time.sleep(5)
        ctrl_c.reached()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_after_ctrl_c_the_teardowns_exception_ignored_reports_are_not_shown(
    monkeypatch, sigint_raises
):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: reported.append(report.exc_value))

    class Noisy:
        def __del__(self):
            raise RuntimeError("clean-up failed")

    with CtrlC():
        Noisy()  # before Ctrl-C: reported as usual
        assert [str(error) for error in reported] == ["clean-up failed"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        Noisy()
        assert len(reported) == 1
    Noisy()  # the usual reports are back once the command is over
    assert len(reported) == 2


def test_after_ctrl_c_a_library_catching_the_interruption_shows_no_warning(
    monkeypatch, sigint_raises
):
    """Keras checks a model's input structure inside a bare ``except:``: a KeyboardInterrupt that
    lands there became a three-line UserWarning above the export command's one line."""
    import keras
    from keras.src.models import functional

    inputs = keras.Input((4,), name="image")
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    def interrupted_check(*_structures):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with CtrlC(deliver_again_after=0.2) as ctrl_c:
            warnings.warn("before Ctrl-C", stacklevel=1)
            monkeypatch.setattr(functional.tree, "assert_same_structure", interrupted_check)
            model(np.zeros((1, 4), np.float32))  # Keras caught the KeyboardInterrupt
            monkeypatch.undo()
            assert ctrl_c.received
            with pytest.raises(KeyboardInterrupt):  # delivered again, so the command stops
                time.sleep(5)
            ctrl_c.reached()
        warnings.warn("after the command", stacklevel=1)
    assert [str(warning.message) for warning in shown] == ["before Ctrl-C", "after the command"]


def test_main_turns_an_error_caused_by_ctrl_c_into_exit_code_130(
    monkeypatch, capsys, sigint_raises
):
    def interrupted_import(_argv):
        os.kill(os.getpid(), signal.SIGINT)
        try:
            time.sleep(5)
        except KeyboardInterrupt:  # what a compiled extension does while it is being imported
            raise ImportError("initialization failed") from None

    monkeypatch.setattr(cli, "_run", interrupted_import)
    assert cli.main(["data", "info", "flowers"]) == INTERRUPTED == 130
    assert capsys.readouterr().err.strip().startswith("interrupted (Ctrl-C): stopped")
    monkeypatch.setattr(cli, "_run", lambda _argv: (_ for _ in ()).throw(ImportError("real")))
    with pytest.raises(ImportError, match="real"):  # without Ctrl-C an error stays an error
        cli.main([])


def test_a_process_that_ignores_sigint_keeps_ignoring_it():
    found = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job of a script
    try:
        with CtrlC() as ctrl_c:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        assert not ctrl_c.received and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, found)


def test_a_json_record_reads_back_and_a_missing_or_broken_one_reads_as_empty(tmp_path):
    record = tmp_path / "stamps.json"
    save_json(record, {"flowers": {"sha256": "ab12"}})
    assert read_json(record) == {"flowers": {"sha256": "ab12"}}
    assert read_json(tmp_path / "never-written.json") == {}
    record.write_text('{"flowers": ')  # cut short
    assert read_json(record) == {}
    record.write_text("[1, 2]")  # valid JSON, but not a record
    assert read_json(record) == {}


def test_a_folder_is_written_whole_and_replaces_an_earlier_one_only_at_the_end(tmp_path):
    target = tmp_path / "saved_model"
    (target / "variables").mkdir(parents=True)
    (target / "old.pb").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, suffix="") as temporary:
        temporary.mkdir()
        (temporary / "new.pb").write_text("half")
        raise RuntimeError("the export failed")
    assert sorted(p.name for p in target.iterdir()) == ["old.pb", "variables"]
    with atomic_path(target, suffix="") as temporary:
        temporary.mkdir()
        (temporary / "new.pb").write_text("new")
        assert (target / "old.pb").exists()  # still the earlier one while writing
    assert [p.name for p in target.iterdir()] == ["new.pb"]
    assert _no_partial_files(tmp_path) == []
    with atomic_path(target, suffix="", keep_existing=True) as temporary:
        temporary.mkdir()
        (temporary / "other.pb").write_text("other")
    assert [p.name for p in target.iterdir()] == ["new.pb"]  # the first one written stays
