"""``python -m tl_helpers data ...``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import train_quietly
from tl_helpers import records
from tl_helpers.cli import build_parser, main, train_recipe
from tl_helpers.errors import CourseError
from tl_helpers.recipe import TRAIN_DEFAULT, TrainRecipe

ROOT = Path(__file__).resolve().parents[1]


def recipe_of(*arguments: str) -> TrainRecipe:
    return train_recipe(
        build_parser().parse_args(["train", "photos", "--out", "m.keras", *arguments])
    )


def test_train_defaults_to_the_recipe_chosen_on_validation():
    choice = records.load("backbone_choice")["chosen"]
    default = recipe_of()
    assert default == TRAIN_DEFAULT
    assert (default.backbone, default.image_size, default.blocks) == (
        choice["backbone"],
        choice["image_size"],
        choice["blocks"],
    )


def test_train_fast_is_lite0_feature_extraction_at_224_and_flags_override_a_recipe():
    assert recipe_of("--fast") == TrainRecipe("efficientnet_lite0", 224, 0)
    assert recipe_of("--fast", "--image-size", "96", "--blocks", "1") == TrainRecipe(
        "efficientnet_lite0", 96, 1
    )
    changed = recipe_of("--backbone", "efficientnet_lite1", "--fine-tune-epochs", "2")
    assert changed.backbone == "efficientnet_lite1" and changed.fine_tune_epochs == 2
    assert changed.image_size == TRAIN_DEFAULT.image_size


def test_an_impossible_recipe_on_the_command_line_names_its_flag():
    with pytest.raises(CourseError, match="--fine-tune-epochs must be a whole number"):
        recipe_of("--fine-tune-epochs", "0")
    with pytest.raises(CourseError, match="--image-size must be at least 32 px"):
        recipe_of("--image-size", "16")


def test_version_is_the_package_s(capsys):
    import tl_helpers

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"tl_helpers {tl_helpers.__version__}"


def _parsers(parser):
    """Every parser of the command line, with the name of the command it parses."""
    import argparse

    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_argument_of_every_command_says_what_it_is_for():
    parsers = dict(_parsers(build_parser()))
    assert {"python -m tl_helpers train", "python -m tl_helpers predict"} <= set(parsers)
    silent = [
        f"{prog} {action.dest}"
        for prog, parser in parsers.items()
        for action in parser._actions
        if not action.help and action.dest not in ("help", "command", "data_command")
    ]
    assert not silent, f"arguments without help text: {silent}"


def test_train_help_names_the_default_and_fast_recipes(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"default {TRAIN_DEFAULT.backbone}" in shown and "--fast" in shown


def test_data_info_shows_location_and_counts_per_split(mirror, capsys):
    assert main(["data", "fetch", "cats_vs_dogs", "--mirror", str(mirror)]) == 0
    assert main(["data", "info", "cats_vs_dogs", "--mirror", str(mirror)]) == 0
    out = capsys.readouterr().out
    from pathlib import Path

    # Shown relative to where the command runs where it can be (no machine's absolute paths in logs and
    # notebooks); whatever the form, it must lead to the dataset.
    shown = next(
        line.split("location: ", 1)[1] for line in out.splitlines() if "location: " in line
    )
    assert Path(shown).expanduser().resolve() == (mirror / "cats_and_dogs_filtered").resolve()
    lines = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.strip().startswith(("cats ", "dogs ", "total "))
    }
    assert lines["cats"] == ["1000", "250", "250"]
    assert lines["total"] == ["2000", "500", "500"]


def test_data_info_before_fetch_says_how(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TL_MIRROR", raising=False)
    assert main(["data", "info", "flowers", "--data-dir", str(tmp_path)]) == 1
    assert "python -m tl_helpers data fetch flowers" in capsys.readouterr().out


def test_unknown_dataset_is_one_line_not_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "tl_helpers", "data", "fetch", "mnist"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: unknown dataset 'mnist'; valid names are: cats_vs_dogs, flowers"
    )
    assert "Traceback" not in result.stderr


def test_fetch_without_network_or_mirror_exits_with_the_fix(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "TL_DATA_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tl_helpers", "data", "fetch", "flowers"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Could not get dataset 'flowers'" in result.stderr
    assert (
        "TL_MIRROR" in result.stderr
        and str(tmp_path / "downloads" / "flower_photos.tgz") in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_train_evaluate_predict_on_a_folder(colour_folder, tmp_path, capsys):

    model_path = tmp_path / "colours.keras"
    assert train_quietly(colour_folder, model_path, 64, 40) == 0
    out = capsys.readouterr().out
    assert "classes: blue_things, green_things, red_things" in out and model_path.exists()

    assert main(["evaluate", str(model_path), str(colour_folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 36 and set(report["per_class_recall"]) == {
        "blue_things",
        "green_things",
        "red_things",
    }
    assert report["counts"] == {"blue_things": 12, "green_things": 12, "red_things": 12}
    assert report["accuracy"] >= 0.9, "three colours are easy for ImageNet features"

    image = sorted((colour_folder / "red_things").iterdir())[0]
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert main(["predict", str(model_path), str(image), str(notes), "--top", "2"]) == 1
    captured = capsys.readouterr()
    line = next(text for text in captured.out.splitlines() if text.startswith(str(image)))
    assert line.count("%") == 2
    assert "notes.txt: skipped" in captured.err


@pytest.mark.slow
def test_evaluate_on_folder_with_other_classes_is_refused(
    colour_folder, image_folder, tmp_path, capsys
):
    model_path = tmp_path / "colours.keras"
    assert train_quietly(colour_folder, model_path, 64, 2) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model_path), str(image_folder)]) == 2
    assert "was trained on" in capsys.readouterr().err


@pytest.mark.slow
def test_train_with_fine_tuning(colour_folder, tmp_path, capsys):
    model_path = tmp_path / "tuned.keras"
    code = train_quietly(
        colour_folder, model_path, 64, 5, "--blocks", "2", "--fine-tune-epochs", "1"
    )
    out = capsys.readouterr().out
    assert (
        code == 0
        and "then fine-tuned for" in out
        and "validation accuracy of the saved model: " in out
        and "95 % interval" in out
    )


def test_train_arguments_are_checked(colour_folder, tmp_path, capsys):
    assert (
        main(["train", str(colour_folder), "--out", str(tmp_path / "m.keras"), "--epochs", "-1"])
        == 2
    )
    assert "--epochs must be a whole number, 1 or more, got -1" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                str(colour_folder),
                "--out",
                str(tmp_path / "m.keras"),
                "--backbone",
                "alexnet",
            ]
        )
        == 2
    )
    assert "valid names are" in capsys.readouterr().err
