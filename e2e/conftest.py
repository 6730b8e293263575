"""A JupyterLab server started the way the README says (`make lab`), and a headless Chromium."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", PROJECT_ROOT / "e2e" / "artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lab_settings(folder: Path) -> None:
    """Settings a test needs: every cell in the page (JupyterLab 4 otherwise only renders the
    cells on screen), no news pop-up over the notebook, and no autosave (the quick-mode outputs
    must never overwrite the committed notebooks)."""
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class Lab:
    def __init__(self, url: str, token: str, log: Path) -> None:
        self.url, self.token, self.log = url, token, log

    def page_url(self, path: str = "") -> str:
        return f"{self.url}/lab{('/tree/' + path) if path else ''}?token={self.token}"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab")
    _lab_settings(home / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "TL_QUICK": "1",
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log = home / "lab.log"
    committed = {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (PROJECT_ROOT / "notebooks").glob("*.ipynb")
    }
    command = [
        "make",
        "--no-print-directory",
        "lab",
        f"LAB_PORT={port}",
        f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}",
    ]
    with open(log, "w") as output:
        server = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"`make lab` did not start JupyterLab; its log:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    yield Lab(url, token, log)
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    changed = [
        path.name
        for path, digest in committed.items()
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest
    ]
    assert not changed, f"the browser session saved over committed notebooks: {changed}"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (make e2e does when run as root)"
        )
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: run `make e2e`"
    )
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    page.close()
