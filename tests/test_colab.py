"""Colab, played honestly without internet: a fresh Python 3.12 environment with a hosted runtime's
stack preinstalled at the course's floors (requirements/hosted-floors.txt: ipywidgets 7 and an old
ipykernel among them), a stand-in ``google.colab`` module, and the course as a wheel named by
``TL_COURSE_SOURCE``. The notebooks' own setup cell installs the course there; then notebook 01
and notebook 06 (its widgets) run in quick mode in that environment's plain IPython kernel, not
the course's. The preinstalled versions must not change, and no C++ start-up line may reach a
notebook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tl_helpers import hosted

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ROOT / "requirements" / "hosted-floors.txt"
CPP_LINE = ("cuda_", "cpu_feature_guard", "oneDNN custom operations", "absl::InitializeLog")


def _python312() -> Path:
    found = subprocess.run(["pyenv", "prefix", "3.12"], capture_output=True, text=True)
    candidates = (
        [Path(found.stdout.strip()) / "bin" / "python3.12"] if found.returncode == 0 else []
    )
    candidates.append(Path(shutil.which("python3.12") or "/nonexistent"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    message = "Python 3.12 is needed for the Colab-like test: pyenv install 3.12"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _versions(python: Path) -> dict[str, str | None]:
    script = (
        "import importlib.metadata as m, json\n"
        f"names = {list(hosted.KEPT)!r}\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        "print(json.dumps({n: v(n) for n in names}))"
    )
    return json.loads(
        subprocess.run([python, "-c", script], capture_output=True, text=True, check=True).stdout
    )


def _texts(notebook: nbformat.NotebookNode) -> list[str]:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + "".join(output.get("traceback", [])))
    return texts


# Not serial: it starts a pip install and a kernel, but waits on nothing with a deadline, so it
# shares the cores with the other slow tests (alone, after them, it added a minute and a half).
@pytest.mark.slow
@pytest.mark.mirror
def test_setup_cell_then_notebooks_on_a_colab_like_runtime(tmp_path, monkeypatch, mirror):
    python312 = _python312()
    venv = tmp_path / "runtime"
    subprocess.run([python312, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    # What the runtime comes with. uv (the dev extra) puts it there in seconds where pip takes a
    # minute; what the setup cell installs on top goes through pip, as on Colab.
    uv = Path(sys.executable).with_name("uv")
    preinstall = (
        [uv, "pip", "install", "--quiet", "--python", python]
        if uv.exists()
        else [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    )
    subprocess.run([*preinstall, "-r", FLOORS], check=True)
    subprocess.run(  # the course as a wheel, as Colab would fetch it from the repository
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            ROOT,
            "-w",
            tmp_path / "wheel",
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "wheel").glob("tl_helpers-*.whl")
    preinstalled = _versions(python)
    assert preinstalled["ipywidgets"] == "7.7.1" and preinstalled["ipykernel"] == "6.17.1"

    stub = tmp_path / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        '"""A stand-in for Colab\'s module: its presence says Colab."""\n'
    )
    kernels = tmp_path / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Colab-like",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "stub"))
    monkeypatch.setenv(hosted.SOURCE_VARIABLE, str(wheel))
    monkeypatch.setenv(hosted.HOME_VARIABLE, str(tmp_path / "home"))
    monkeypatch.setenv("TL_QUICK", "1")
    for variable in ("TL_DATA_DIR", "TL_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(variable, raising=False)  # the setup cell must choose them
    work = tmp_path / "content"  # a fresh folder, like /content: nothing of the repository
    work.mkdir()

    ran = {}
    for name in ("01_setup_and_data", "06_your_own_images"):
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        NotebookClient(
            notebook, kernel_name="colab", timeout=900, resources={"metadata": {"path": str(work)}}
        ).execute()
        ran[name] = notebook
        texts = _texts(notebook)
        setup = "".join(output.get("text", "") for output in notebook.cells[1].outputs)
        assert "colab: the course is installed" in setup, setup
        assert f"TL_DATA_DIR={tmp_path / 'home' / 'data'}" in setup and "device:" in setup
        assert not [t for t in texts if any(marker in t for marker in CPP_LINE)], name

    after = _versions(python)
    assert {name: after[name] for name, version in preinstalled.items() if version} == {
        name: version for name, version in preinstalled.items() if version
    }, "the setup cell changed the runtime's own packages"
    upload = next(c for c in ran["06_your_own_images"].cells if "choose_file" in c.source)
    (shown,) = [
        o for o in upload.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert "%" in shown["data"]["text/html"], "the upload widget predicted nothing on ipywidgets 7"
