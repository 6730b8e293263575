"""Real processes: Ctrl-C at several points of ``train`` and ``export``, and two processes
computing the same cache entry at once. Every interrupted command must exit with 130 and a
one-line note (no traceback), and leave nothing half-written: no partial file, every cache entry
readable, no model or export at the output path (or the previous one, intact)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tl_helpers.deploy.runtimes import load_exported
from tl_helpers.errors import CourseWarning
from tl_helpers.models import load_classifier
from tl_helpers.storage import read_arrays

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # real processes, Ctrl-C at set points

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches a command typed at a terminal; a CI job running in the background of a
    script has SIGINT ignored, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Command:
    """A ``python -m tl_helpers`` subprocess whose output lines are collected as they come."""

    def __init__(self, arguments: list[str], cache: Path) -> None:
        env = {
            **os.environ,
            "TL_CACHE_DIR": str(cache),
            "PYTHONUNBUFFERED": "1",  # lines arrive as printed, so the test can react to them
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tl_helpers", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
            preexec_fn=_as_from_a_terminal,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def interrupt_when(self, ready: Callable[[Command], bool], timeout: float = 240) -> bool:
        """Send SIGINT (what Ctrl-C sends) once ``ready``; False if the command ended first."""
        deadline = time.monotonic() + timeout
        while not ready(self):
            if self.process.poll() is not None:
                return False
            assert time.monotonic() < deadline, "the interruption point never came"
            time.sleep(0.001)
        self.process.send_signal(signal.SIGINT)
        return True

    def finish(self) -> tuple[int, str, str]:
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        code = self.process.wait(timeout=240)
        self.reader.join(timeout=10)
        return code, "".join(self.lines), stderr


def after_seconds(seconds: float) -> Callable[[Command], bool]:
    start = time.monotonic()
    return lambda _command: time.monotonic() - start > seconds


def after_line(text: str) -> Callable[[Command], bool]:
    return lambda command: any(text in line for line in command.lines)


def when_file_appears(folder: Path, pattern: str) -> Callable[[Command], bool]:
    return lambda _command: any(folder.glob(pattern))


def half_written(*folders: Path) -> list[str]:
    """What an interrupted command left that it should not have: partial or scratch files, and
    cache entries that do not read back whole."""
    problems = []
    for folder in folders:
        problems += [f"left behind: {p}" for p in folder.rglob("*") if p.name.startswith(".")]
        for entry in folder.rglob("*.npz"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", CourseWarning)  # a damaged entry raises here
                try:
                    read_arrays(entry, ())
                except CourseWarning as warning:
                    problems.append(str(warning))
    return problems


def assert_interrupted(code: int, stdout: str, stderr: str) -> None:
    assert code == 130, f"exit code {code}\n{stdout[-2000:]}\n{stderr[-3000:]}"
    # One line, and nothing else: no traceback, no "Exception ignored" from the teardown.
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted (Ctrl-C)"), stderr[-3000:]


TRAIN_POINTS = {
    # Python's and TensorFlow's start-up, where an interrupt is most easily lost (see
    # tl_helpers.interrupts), at four moments, whatever the machine's speed makes of them.
    **{f"{s} s after the start": (lambda out, s=s: after_seconds(s)) for s in (0.5, 1.5, 2.5, 3.5)},
    "while building the base and extracting features": lambda out: after_line("recipe:"),
    "while training the head": lambda out: after_line("head epoch   1"),
    "while saving the model": lambda out: when_file_appears(
        out, ".model.keras.*.partial/model.keras"
    ),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Interrupt ``train`` at each point with one cache (so later points find what earlier runs
    kept), then run it to the end: the model it saves is what the export tests start from."""
    root = tmp_path_factory.mktemp("interrupts")
    folder, cache, out = root / "photos", root / "cache", root / "out"
    out.mkdir()
    rng = np.random.default_rng(3)
    from PIL import Image

    for channel, name in enumerate(["red", "green", "blue"]):
        for index in range(16):
            pixels = rng.integers(0, 90, size=(48, 48, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(160, 256, size=(48, 48), dtype=np.uint8)
            (folder / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / name / f"{name}_{index:02d}.png")
    arguments = ["train", str(folder), "--out", str(out / "model.keras"), "--fast"]
    arguments += ["--image-size", "96", "--epochs", "40"]
    outcomes = {}
    for point, ready in TRAIN_POINTS.items():
        command = Command(arguments, cache)
        reached = command.interrupt_when(ready(out))
        finished = command.finish()
        model_left = (out / "model.keras").exists()
        outcomes[point] = (reached, *finished, half_written(cache, out), model_left)
    finished = Command(arguments, cache)
    code, stdout, stderr = finished.finish()
    assert code == 0, stdout + stderr
    return {"folder": folder, "cache": cache, "out": out, "outcomes": outcomes}  # type: ignore[dict-item]


@pytest.mark.parametrize("point", list(TRAIN_POINTS))
def test_ctrl_c_stops_train_cleanly(trained, point):
    reached, code, stdout, stderr, problems, model_left = trained["outcomes"][point]
    assert reached, f"train ended before the point '{point}'"
    assert_interrupted(code, stdout, stderr)
    assert problems == [] and not model_left, (problems, model_left)


def test_after_the_interruptions_the_cache_is_whole_and_train_finishes(trained):
    assert half_written(trained["cache"], trained["out"]) == []
    assert load_classifier(trained["out"] / "model.keras").class_names == ["blue", "green", "red"]


@pytest.mark.parametrize("format, name, extra", [
    ("litert", "model.tflite", ["--quantize", "int8", "--calibration"]),
    ("onnx", "model.onnx", []),
])  # fmt: skip
def test_ctrl_c_during_an_export_keeps_the_previous_export(trained, tmp_path, format, name, extra):
    out = tmp_path / name
    arguments = ["export", str(trained["out"] / "model.keras"), "--format", format]
    arguments += ["--out", str(out), *extra, *([str(trained["folder"])] if extra else [])]
    code, stdout, stderr = Command(arguments, trained["cache"]).finish()
    assert code == 0, stdout + stderr
    complete = out.read_bytes()
    # The same export again would be a copy from the export cache: convert for real.
    again = Command([*arguments, "--no-cache"], trained["cache"])
    # The export converts in a scratch folder beside the output: interrupt while it exists.
    assert again.interrupt_when(when_file_appears(tmp_path, f".{name}.*"))
    assert_interrupted(*again.finish())
    assert out.read_bytes() == complete
    assert half_written(tmp_path) == []
    assert load_exported(out).class_names == ["blue", "green", "red"]


EXTRACT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from tl_helpers.data.folders import folder_splits
    from tl_helpers.training import extract_features
    split = folder_splits(sys.argv[1]).train
    Path(sys.argv[3] + ".ready").touch()  # TensorFlow imported, the split made
    while not Path(sys.argv[2]).exists():  # start together, once both are ready
        time.sleep(0.01)
    result = extract_features("efficientnet_lite0", split, image_size=64, verbose=False)
    np.save(sys.argv[3], result.features)
    print("from cache" if result.from_cache else "computed")
    """
)


def test_two_processes_computing_one_feature_entry_agree_and_leave_it_whole(trained, tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    env = {**os.environ, "TL_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", EXTRACT, str(trained["folder"]), str(go), str(tmp_path / f"{i}.npy")],
            env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in (1, 2)
    ]  # fmt: skip
    ready = [tmp_path / f"{i}.npy.ready" for i in (1, 2)]
    deadline = time.monotonic() + 240
    while not all(path.exists() for path in ready):
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers), [
            w.poll() for w in workers
        ]
        time.sleep(0.01)
    go.touch()
    results = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], results
    assert [stdout.strip() for stdout, _ in results] == ["computed", "computed"]
    (entry,) = (cache / "features").glob("*.npz")
    assert half_written(cache) == []
    stored = read_arrays(entry, ("features",))
    assert stored is not None
    for i in (1, 2):
        np.testing.assert_array_equal(np.load(tmp_path / f"{i}.npy"), stored["features"])


def test_ctrl_c_while_checking_a_dataset_records_nothing_and_the_next_fetch_works(mirror, tmp_path):
    """``data fetch`` checks every photo of the mirror before recording it as checked: stopped
    halfway, it must record nothing (a later run would otherwise trust an unchecked copy)."""
    arguments = ["data", "fetch", "flowers", "--mirror", str(mirror), "--data-dir", str(tmp_path)]
    command = Command(arguments, tmp_path / "cache")
    assert command.interrupt_when(after_line("checking"))
    assert_interrupted(*command.finish())
    assert list(tmp_path.rglob("verified.json")) == [] and half_written(tmp_path) == []
    code, stdout, stderr = Command(arguments, tmp_path / "cache").finish()
    assert code == 0 and "checking" in stdout, stdout + stderr
    assert len(list(tmp_path.rglob("verified.json"))) == 1
