"""Shared fixtures: generated images, small archives and a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_image(
    path: Path,
    size: tuple[int, int] = (40, 30),
    mode: str = "RGB",
    seed: int = 0,
    fmt: str | None = None,
) -> Path:
    """Write a small random image (a real, decodable file) and return its path."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "CMYK": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def train_quietly(folder: Path, model_path: Path, image_size: int, epochs: int, *extra: str) -> int:
    """Run ``python -m tl_helpers train --fast`` in-process without per-epoch lines (the quick
    recipe at a small image size, unless ``extra`` says otherwise); its exit code."""
    from tl_helpers.cli import main

    arguments = ["--out", str(model_path), "--image-size", str(image_size), "--epochs", str(epochs)]
    arguments.append("--fast")
    return main(["train", str(folder), *arguments, *extra, "--no-verbose"])


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """``root/<class>/<image>`` with 3 classes of 20 small JPEGs each."""
    root = tmp_path / "folder"
    for label, class_name in enumerate(["ants", "bees", "wasps"]):
        for index in range(20):
            write_image(
                root / class_name / f"{class_name}_{index:03d}.jpg", seed=100 * label + index
            )
    return root


@pytest.fixture
def mirror() -> Path:
    """The real dataset mirror, or a skip that says how to enable these tests."""
    value = os.environ.get("TL_MIRROR")
    if not value:
        pytest.skip(
            "TL_MIRROR is not set: point it at ../shared/mirror to run the tests on real photos"
        )
    path = Path(value).resolve()
    if not path.is_dir():
        pytest.skip(f"TL_MIRROR={value} is not a folder")
    return path


@dataclass
class FileServer:
    """What the test server serves, and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(
        default_factory=dict
    )  # path -> bytes sent before dropping the connection
    honour_range: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    base_url: str = ""


@pytest.fixture
def http_server() -> Iterator[FileServer]:
    """A real HTTP server on 127.0.0.1 with Range support and a switch to cut a transfer short."""
    state = FileServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if range_header and state.honour_range:
                start = int(range_header.split("=")[1].split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            limit = state.cut_after.pop(self.path, None)
            self.wfile.write(payload if limit is None else payload[:limit])
            if limit is not None:
                self.wfile.flush()
                self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Converted weights and cached features of the tests go to a temporary folder, never to .cache/."""
    previous = os.environ.get("TL_CACHE_DIR")
    path = tmp_path_factory.mktemp("tl-cache")
    os.environ["TL_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("TL_CACHE_DIR", None)
    else:
        os.environ["TL_CACHE_DIR"] = previous


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> Path:
    """An empty feature cache for one test. Entries are keyed by content, and the generated
    folders are the same in every test, so a test that needs the first computation to happen
    cannot share the session's cache; the converted weights are shared all the same."""
    path = tmp_path / "fresh-cache"
    path.mkdir()
    (isolated_cache / "weights").mkdir(exist_ok=True)
    (path / "weights").symlink_to(isolated_cache / "weights", target_is_directory=True)
    monkeypatch.setenv("TL_CACHE_DIR", str(path))
    return path


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """Three easy classes (reddish, greenish, bluish noise), 12 images each, so a head can learn them."""
    root = tmp_path / "colours"
    rng = np.random.default_rng(7)
    for channel, name in enumerate(["blue_things", "green_things", "red_things"][::-1]):
        for index in range(12):
            pixels = rng.integers(0, 90, size=(48, 48, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(160, 256, size=(48, 48), dtype=np.uint8)
            path = root / name / f"{name}_{index:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real photos is marked ``mirror``, so ``-m "not mirror"`` (``make
    unit``) leaves them out without each test saying so twice."""
    for item in items:
        if "mirror" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mirror)
