"""``python -m tl_helpers data ...``."""

from __future__ import annotations

import subprocess
import sys

from tl_helpers.cli import main


def test_data_info_shows_location_and_counts_per_split(mirror, capsys):
    assert main(["data", "fetch", "cats_vs_dogs", "--mirror", str(mirror)]) == 0
    assert main(["data", "info", "cats_vs_dogs", "--mirror", str(mirror)]) == 0
    out = capsys.readouterr().out
    assert str(mirror / "cats_and_dogs_filtered") in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip().startswith(("cats ", "dogs ", "total "))}
    assert lines["cats"] == ["1000", "250", "250"]
    assert lines["total"] == ["2000", "500", "500"]


def test_data_info_before_fetch_says_how(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TL_MIRROR", raising=False)
    assert main(["data", "info", "flowers", "--data-dir", str(tmp_path)]) == 1
    assert "python -m tl_helpers data fetch flowers" in capsys.readouterr().out


def test_unknown_dataset_is_one_line_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "tl_helpers", "data", "fetch", "mnist"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown dataset 'mnist'; valid names are: cats_vs_dogs, flowers"
    assert "Traceback" not in result.stderr


def test_fetch_without_network_or_mirror_exits_with_the_fix(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TL_DATA_DIR": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-m", "tl_helpers", "data", "fetch", "flowers"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "Could not get dataset 'flowers'" in result.stderr
    assert "TL_MIRROR" in result.stderr and str(tmp_path / "downloads" / "flower_photos.tgz") in result.stderr
    assert "Traceback" not in result.stderr
