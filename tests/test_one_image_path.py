"""One image path: training, evaluation and prediction see the same pixels and give the same
probabilities, file by file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import train_quietly
from tl_helpers.cli import main
from tl_helpers.data.decode import EXIF_ORIENTATION_TAG, load_image
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.models import probabilities


def real_photos(mirror: Path, count: int) -> list[Path]:
    """Photos of many sizes: every n-th file of both datasets, all classes."""
    files = sorted((mirror / "flower_photos").glob("*/*.jpg")) + sorted(
        (mirror / "cats_and_dogs_filtered").glob("*/*/*.jpg")
    )
    return files[:: max(1, len(files) // count)][:count]


def rotated_copies(photo: Path, folder: Path) -> list[Path]:
    """The photo stored sideways/mirrored with each of the 8 EXIF orientation tags, as phones do."""
    stored = {
        1: lambda im: im,
        2: lambda im: im.transpose(Image.FLIP_LEFT_RIGHT),
        3: lambda im: im.rotate(180),
        4: lambda im: im.transpose(Image.FLIP_TOP_BOTTOM),
        5: lambda im: im.transpose(Image.TRANSPOSE),
        6: lambda im: im.rotate(90, expand=True),
        7: lambda im: im.transpose(Image.TRANSVERSE),
        8: lambda im: im.rotate(-90, expand=True),
    }
    copies = []
    with Image.open(photo) as image:
        image = image.convert("RGB")
        for tag, transform in stored.items():
            exif = Image.Exif()
            exif[EXIF_ORIENTATION_TAG] = tag
            path = folder / f"orientation_{tag}.jpg"
            transform(image).save(path, exif=exif.tobytes(), quality=90)
            copies.append(path)
    return copies


@pytest.mark.mirror
@pytest.mark.slow
def test_load_image_equals_the_training_pipeline_exactly(mirror, tmp_path):
    photos = real_photos(mirror, 56) + rotated_copies(real_photos(mirror, 3)[1], tmp_path)
    sizes = {Image.open(p).size for p in photos}
    assert len(photos) >= 60 and len(sizes) >= 10, "the check needs photos of many sizes"
    for image_size in [(224, 224), (160, 120)]:
        batches = make_dataset(
            Split(tuple(photos), (0,) * len(photos)),
            image_size=image_size,
            batch_size=16,
            cache=False,
        )
        from_pipeline = np.concatenate([images.numpy() for images, _ in batches])
        from_load_image = np.stack([load_image(p, image_size) for p in photos])
        np.testing.assert_array_equal(from_load_image, from_pipeline)
    # Every orientation comes out upright: the same picture as the untagged copy, up to JPEG noise.
    upright = [load_image(p, (96, 96)) for p in photos[-8:]]
    assert max(np.abs(u - upright[0]).mean() for u in upright) < 6.0


def predictions_by_file(output: str) -> dict[str, dict[str, float]]:
    return {entry["file"]: entry["probabilities"] for entry in json.loads(output)["predictions"]}


def assert_same_probabilities(folder: Path, model_path: Path, capsys) -> int:
    assert main(["evaluate", str(model_path), str(folder), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    files = [entry["file"] for entry in evaluated["predictions"]]
    assert all(
        entry["predicted"] in entry["probabilities"] and "true" in entry
        for entry in evaluated["predictions"]
    )
    assert main(["predict", str(model_path), *files, "--json"]) == 0
    predicted = predictions_by_file(capsys.readouterr().out)
    assert sorted(predicted) == sorted(files)
    by_evaluate = predictions_by_file(json.dumps(evaluated))
    worst = max(abs(by_evaluate[f][c] - predicted[f][c]) for f in files for c in predicted[f])
    assert worst < 1e-5, f"evaluate and predict disagree by {worst} on the same file"
    return len(files)


@pytest.mark.slow
def test_evaluate_and_predict_agree_file_by_file(colour_folder, tmp_path, capsys):
    model_path = tmp_path / "colours.keras"
    assert train_quietly(colour_folder, model_path, 64, 5) == 0
    capsys.readouterr()
    assert assert_same_probabilities(colour_folder, model_path, capsys) == 36


@pytest.mark.mirror
@pytest.mark.slow
def test_evaluate_and_predict_agree_on_real_photos(mirror, tmp_path, capsys):
    folder = tmp_path / "photos"
    for name in ("daisy", "roses", "tulips"):
        (folder / name).mkdir(parents=True)
        for photo in sorted((mirror / "flower_photos" / name).glob("*.jpg"))[:10]:
            shutil.copy(photo, folder / name / photo.name)
    model_path = tmp_path / "flowers.keras"
    assert train_quietly(folder, model_path, 128, 3) == 0
    capsys.readouterr()
    assert assert_same_probabilities(folder, model_path, capsys) == 30


@pytest.mark.slow
def test_predict_json_lists_every_class(colour_folder, tmp_path, capsys):
    model_path = tmp_path / "colours.keras"
    assert train_quietly(colour_folder, model_path, 48, 2) == 0
    capsys.readouterr()
    image = sorted((colour_folder / "red_things").iterdir())[0]
    assert main(["predict", str(model_path), str(image), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    (entry,) = printed["predictions"]
    assert entry["file"] == str(image) and printed["class_names"] == [
        "blue_things",
        "green_things",
        "red_things",
    ]
    assert set(entry["probabilities"]) == set(printed["class_names"])
    assert abs(sum(entry["probabilities"].values()) - 1.0) < 1e-5
    assert entry["predicted"] == max(entry["probabilities"], key=entry["probabilities"].get)


@pytest.mark.slow
def test_tta_on_the_command_line_averages_the_photo_and_its_mirror_image(
    colour_folder, tmp_path, capsys
):
    from tl_helpers.models import load_classifier

    model_path = tmp_path / "colours.keras"
    assert train_quietly(colour_folder, model_path, 48, 2) == 0
    capsys.readouterr()
    image = sorted((colour_folder / "green_things").iterdir())[0]
    assert main(["predict", str(model_path), str(image), "--json", "--tta"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tta"] is True
    loaded = load_classifier(model_path)
    photo = load_image(image, loaded.image_size)
    both = probabilities(loaded.model, np.stack([photo, photo[:, ::-1]]))
    expected = both.mean(axis=0)
    got = [printed["predictions"][0]["probabilities"][name] for name in loaded.class_names]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert main(["evaluate", str(model_path), str(colour_folder), "--json", "--tta"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    entry = next(e for e in evaluated["predictions"] if e["file"] == str(image))
    assert evaluated["tta"] is True
    np.testing.assert_allclose(
        [entry["probabilities"][n] for n in loaded.class_names], expected, atol=1e-5
    )
