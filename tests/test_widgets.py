"""Widgets driven programmatically: set the upload value, press the buttons, read the output."""

from __future__ import annotations

import datetime
from pathlib import Path

import ipywidgets
import numpy as np

from conftest import write_image
from tl_helpers.data.folders import folder_splits
from tl_helpers.evaluation import report_from_probabilities
from tl_helpers.models import build_classifier, load_classifier, save_classifier
from tl_helpers.widgets import MisclassificationBrowser, UploadPredictor, uploaded_files


def _upload(path):
    content = path.read_bytes()
    return (
        {
            "name": path.name,
            "type": "image/png",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        },
    )


def test_upload_and_predict_with_a_saved_classifier(colour_folder, tmp_path):
    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 3, class_names=splits.class_names, image_size=48)
    loaded = load_classifier(save_classifier(model, tmp_path / "colours.keras"))
    predictor = UploadPredictor(loaded, top_k=2)
    predictor.button.click()
    assert "No file uploaded" in predictor.result.value

    predictor.upload.value = _upload(splits.validation.files[0])
    predictor.button.click()
    ranked = predictor.last_prediction
    assert len(ranked) == 2 and ranked[0][1] >= ranked[1][1]
    assert {name for name, _ in ranked} <= set(splits.class_names)
    for name, probability in ranked:
        assert name in predictor.result.value and f"{probability:.1%}" in predictor.result.value
    assert predictor.image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_upload_of_a_non_image_gives_a_message(colour_folder, tmp_path):
    model = build_classifier("efficientnet_lite0", 3, image_size=48, weights=None)
    predictor = UploadPredictor(model)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    predictor.upload.value = _upload(notes)
    assert predictor.predict_uploaded() == []
    assert "Cannot read notes.txt" in predictor.result.value


def test_an_upload_onto_a_full_disk_gives_a_message(colour_folder, monkeypatch):
    import errno

    model = build_classifier("efficientnet_lite0", 3, image_size=48, weights=None)
    predictor = UploadPredictor(model)
    predictor.upload.value = _upload(folder_splits(colour_folder).validation.files[0])

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    assert predictor.predict_uploaded() == []
    assert "Could not keep the upload" in predictor.result.value
    assert "is full" in predictor.result.value


def test_misclassification_browser_steps_through_mistakes(colour_folder):
    splits = folder_splits(colour_folder)
    files = splits.validation.files[:3]
    report = report_from_probabilities(
        np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]),
        [0, 1, 2],
        splits.class_names,
        files,
    )
    model = build_classifier(
        "efficientnet_lite0", 3, class_names=splits.class_names, image_size=48, weights=None
    )
    browser = MisclassificationBrowser(model, report)
    assert (
        browser.position.value == "mistake 1 of 3"
        and browser.previous.disabled
        and not browser.next.disabled
    )
    first_caption = browser.caption.value
    assert "predicted" in first_caption and "80.0%" in first_caption  # most confident mistake first
    browser.next.click()
    assert browser.position.value == "mistake 2 of 3" and browser.caption.value != first_caption
    browser.next.click()
    assert browser.next.disabled
    browser.previous.click()
    browser.previous.click()
    assert browser.position.value == "mistake 1 of 3" and browser.caption.value == first_caption
    assert browser.heatmap.value[:4] == b"\x89PNG"


def test_browser_with_no_mistakes(tmp_path):
    path = write_image(tmp_path / "a.png", fmt="PNG")
    report = report_from_probabilities(np.array([[0.9, 0.1]]), [0], ["a", "b"], [path])
    model = build_classifier("efficientnet_lite0", 2, image_size=48, weights=None)
    browser = MisclassificationBrowser(model, report)
    assert browser.position.value == "no mistakes to browse" and browser.next.disabled


def test_choose_file_fills_the_upload_like_the_browser_does(colour_folder, tmp_path):
    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 3, class_names=splits.class_names, image_size=64)
    predictor = UploadPredictor(model, top_k=2)
    predictor.choose_file(splits.validation.files[0])
    uploaded = uploaded_files(predictor.upload)[0]
    assert uploaded["name"] == splits.validation.files[0].name and uploaded["type"] == "image/png"
    assert bytes(uploaded["content"]) == splits.validation.files[0].read_bytes()
    predictor.button.click()
    assert (
        len(predictor.last_prediction) == 2
        and splits.validation.files[0].name in predictor.result.value
    )


def test_widgets_carry_a_static_copy_of_what_they_show(colour_folder):
    splits = folder_splits(colour_folder)
    files = splits.validation.files[:2]
    report = report_from_probabilities(
        np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]), [0, 1], splits.class_names, files
    )
    model = build_classifier(
        "efficientnet_lite0", 3, class_names=splits.class_names, image_size=48, weights=None
    )
    browser = MisclassificationBrowser(model, report)
    bundle = browser._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle, (
        "the live widget is still what JupyterLab shows"
    )
    copy = bundle["text/html"]
    assert copy.count("data:image/jpeg;base64,") == 2, "the photo and its Grad-CAM"
    assert "mistake 1 of 2" in copy and browser.caption.value in copy
    browser.next.click()
    assert "mistake 2 of 2" in browser._repr_mimebundle_()["text/html"], (
        "the copy follows the widget's state"
    )

    predictor = UploadPredictor(model, top_k=2)
    assert "data:image" not in predictor.static_html(), "nothing predicted yet: no picture"
    predictor.choose_file(files[0])
    predictor.predict_uploaded()
    copy = predictor._repr_mimebundle_()["text/html"]
    assert copy.count("data:image/jpeg;base64,") == 1 and files[0].name in copy
    assert all(f"{p:.1%}" in copy for _, p in predictor.last_prediction)


def test_uploaded_files_reads_ipywidgets_7_and_8_values():
    """Colab's ipywidgets 7 keeps {name: {"metadata": ..., "content": ...}}; 8 keeps a tuple of
    dicts. Both give the same list of files, in the order chosen."""

    class Upload:  # only the value matters
        def __init__(self, value):
            self.value = value

    seven = {
        "b.png": {"metadata": {"name": "b.png", "type": "image/png", "size": 2}, "content": b"bb"},
        "a.jpg": {"metadata": {"name": "a.jpg", "type": "image/jpeg", "size": 1}, "content": b"a"},
    }
    eight = tuple({**entry["metadata"], "content": entry["content"]} for entry in seven.values())
    assert uploaded_files(Upload(seven)) == uploaded_files(Upload(eight)) == list(eight)
    assert [f["name"] for f in uploaded_files(Upload(seven))] == ["b.png", "a.jpg"]
    assert uploaded_files(Upload({})) == uploaded_files(Upload(())) == []


def test_the_installed_ipywidgets_is_one_the_widgets_support():
    assert ipywidgets.__version__.split(".")[0] in ("7", "8")


def test_an_ipywidgets_7_widget_gets_the_live_view_and_the_static_copy(colour_folder):
    """ipywidgets 7 widgets have no _repr_mimebundle_ (they display through _ipython_display_):
    the bundle names the widget's model all the same, beside the static copy."""
    import types

    splits = folder_splits(colour_folder)
    model = build_classifier("efficientnet_lite0", 3, class_names=splits.class_names, image_size=64)
    predictor = UploadPredictor(model)
    predictor.widget = types.SimpleNamespace(model_id="model-7")  # what a 7.x VBox offers here
    bundle = predictor._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == "model-7"
    assert "static copy" in bundle["text/html"]
