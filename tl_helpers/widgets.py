"""Interactive widgets for the notebooks (ipywidgets): upload-and-predict, and a browser of the
model's mistakes with Grad-CAM. Both take any classifier built or loaded by the course."""

from __future__ import annotations

import datetime
import html
import io
import mimetypes
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np
from PIL import Image

from tl_helpers.data.decode import load_image
from tl_helpers.evaluation import EvaluationReport
from tl_helpers.extras import require
from tl_helpers.gradcam import gradcam, overlay
from tl_helpers.models import LoadedClassifier, class_names_of, input_size, probabilities
from tl_helpers.storage import StorageError, disk_errors

if TYPE_CHECKING:
    import ipywidgets as widgets
else:  # a missing ipywidgets says which extra brings it
    widgets = require("ipywidgets", "The course's widgets")

__all__ = [
    "MisclassificationBrowser",
    "StaticCopy",
    "UploadPredictor",
    "probability_bars",
    "uploaded_files",
]

# Colab ships ipywidgets 7, whose FileUpload stores files differently from 8's.
_IPYWIDGETS_7 = widgets.__version__.split(".")[0] == "7"


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def probability_bars(ranked: list[tuple[str, float]]) -> str:
    """HTML bars for ``[(class, probability), ...]``."""
    rows = [
        f"<div style='display:flex;align-items:center;gap:8px;font-family:monospace'>"
        f"<span style='width:110px'>{html.escape(name)}</span>"
        f"<span style='background:#4c72b0;height:14px;width:{max(1, round(200 * p))}px'></span>"
        f"<span>{p:.1%}</span></div>"
        for name, p in ranked
    ]
    return "".join(rows)


def _as_jpeg_uri(png: bytes) -> str:
    """A small inline JPEG of a widget image, for the static copy."""
    import base64

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


class StaticCopy:
    """Displayed in a notebook, the live widget, plus a static HTML copy of what it shows now.

    JupyterLab renders the live widget; where no widget can run (GitHub, nbviewer, an exported
    page) the reader sees the copy instead of ``VBox(children=...)``. Subclasses set ``widget``
    and say what to copy in ``static_parts``.
    """

    widget: widgets.Widget
    images: list[widgets.Image]

    def static_parts(self) -> list[str]:
        """HTML fragments shown after the images: labels, captions, results."""
        raise NotImplementedError

    def static_html(self) -> str:
        """The static copy: the widget's current images side by side, then its text."""
        pictures = "".join(
            f"<img src='{_as_jpeg_uri(image.value)}' width='224' style='margin-right:8px'>"
            for image in self.images
            if image.value
        )
        note = "<p><i>A static copy of the widget (run the notebook to use it).</i></p>"
        return f"<div>{note}<div style='display:flex'>{pictures}</div>{''.join(self.static_parts())}</div>"

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        if hasattr(self.widget, "_repr_mimebundle_"):
            bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        else:  # ipywidgets 7 displays through _ipython_display_; this is the bundle it sends
            bundle = {
                "text/plain": repr(self.widget)[:110],
                "application/vnd.jupyter.widget-view+json": {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": self.widget.model_id,
                },
            }
        bundle["text/html"] = self.static_html()
        return bundle


def uploaded_files(upload: widgets.FileUpload) -> list[dict]:
    """The files in an upload widget as ``{"name", "content", ...}`` dicts, in the order chosen:
    ipywidgets 8 keeps a tuple of them, ipywidgets 7 (Colab's) a dict keyed by file name, each
    entry holding ``metadata`` and ``content``."""
    value = upload.value
    if isinstance(value, dict):
        return [{**entry["metadata"], "content": entry["content"]} for entry in value.values()]
    return list(value)


def _unwrap(classifier: LoadedClassifier | keras.Model) -> tuple[keras.Model, list[str]]:
    if isinstance(classifier, LoadedClassifier):
        return classifier.model, classifier.class_names
    return classifier, class_names_of(classifier)


class UploadPredictor(StaticCopy):
    """Upload an image, press *Predict*, see the image and the top classes as bars.

    ``display(predictor)`` shows the widget (with a static copy for readers without a kernel).
    ``predictor.last_prediction`` holds the ranked ``(class, probability)`` pairs of the latest
    prediction.
    """

    def __init__(self, classifier: LoadedClassifier | keras.Model, top_k: int = 3) -> None:
        self.model, self.class_names = _unwrap(classifier)
        self.top_k = min(top_k, len(self.class_names))
        self.upload = widgets.FileUpload(
            accept="image/*", multiple=False, description="Choose image"
        )
        self.button = widgets.Button(description="Predict", button_style="primary", icon="search")
        self.image = widgets.Image(format="png", width=224)
        self.result = widgets.HTML(value="<i>Upload a photo, then press Predict.</i>")
        self.last_prediction: list[tuple[str, float]] = []
        self.button.on_click(lambda _button: self.predict_uploaded())
        self.widget = widgets.VBox(
            [widgets.HBox([self.upload, self.button]), widgets.HBox([self.image, self.result])]
        )
        self.images = [self.image]

    def choose_file(self, path: str | Path) -> None:
        """Put a file from disk into the upload widget, as if it had been chosen in the browser
        (for demonstrations and tests; a learner uses the *Choose image* button)."""
        path = Path(path)
        content = path.read_bytes()
        metadata = {
            "name": path.name,
            "type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "size": len(content),
        }
        if _IPYWIDGETS_7:  # value is computed from data and metadata when the counter moves
            self.upload.metadata = [{**metadata, "lastModified": int(path.stat().st_mtime * 1000)}]
            self.upload.data = [content]
            self.upload._counter += 1
            return
        self.upload.value = (
            {
                **metadata,
                "content": memoryview(content),
                "last_modified": datetime.datetime.fromtimestamp(
                    path.stat().st_mtime, datetime.UTC
                ),
            },
        )

    def predict_uploaded(self) -> list[tuple[str, float]]:
        """Predict the uploaded file; a file that is not an image gives a message, not a traceback."""
        files = uploaded_files(self.upload)
        if not files:
            self.result.value = "<b>No file uploaded yet.</b> Use <i>Choose image</i> first."
            return []
        uploaded = files[0]
        content = bytes(uploaded["content"])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(uploaded["name"]).name
            try:
                with disk_errors(path, len(content)):  # a full temporary folder: one line
                    path.write_bytes(content)
            except StorageError as error:
                self.result.value = f"<b>Could not keep the upload:</b> {html.escape(str(error))}"
                return []
            try:
                image = load_image(path, input_size(self.model))
            except ValueError as error:
                self.result.value = (
                    f"<b>Cannot read {html.escape(uploaded['name'])}</b>: {html.escape(str(error))}"
                )
                return []
        probs = probabilities(self.model, image[None])[0]
        order = np.argsort(-probs)[: self.top_k]
        self.last_prediction = [(self.class_names[i], float(probs[i])) for i in order]
        self.image.value = _png(image)
        self.result.value = f"<b>{html.escape(uploaded['name'])}</b>" + probability_bars(
            self.last_prediction
        )
        return self.last_prediction

    def static_parts(self) -> list[str]:
        return [self.result.value]


class MisclassificationBrowser(StaticCopy):
    """Step through the wrong predictions of an evaluation: image, Grad-CAM, true and predicted
    class and the confidence. Most confident mistakes come first. ``display(browser)`` shows it."""

    def __init__(
        self,
        classifier: LoadedClassifier | keras.Model,
        report: EvaluationReport,
        show_gradcam: bool = True,
    ) -> None:
        self.model, _ = _unwrap(classifier)
        self.report = report
        self.mistakes = report.mistakes
        self.show_gradcam = show_gradcam
        self.index = 0
        self.previous = widgets.Button(description="Previous", icon="arrow-left")
        self.next = widgets.Button(description="Next", icon="arrow-right")
        self.position = widgets.Label()
        self.image = widgets.Image(format="png", width=224)
        self.heatmap = widgets.Image(format="png", width=224)
        self.caption = widgets.HTML()
        self.previous.on_click(lambda _b: self.show(self.index - 1))
        self.next.on_click(lambda _b: self.show(self.index + 1))
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.previous, self.next, self.position]),
                widgets.HBox([self.image, self.heatmap]),
                self.caption,
            ]
        )
        self.images = [self.image, self.heatmap]
        self.show(0)

    def show(self, index: int) -> None:
        """Display mistake number ``index`` (clamped to the available range)."""
        if not self.mistakes:
            self.position.value = "no mistakes to browse"
            self.caption.value = f"All {len(self.report.labels)} images were classified correctly."
            self.previous.disabled = self.next.disabled = True
            return
        self.index = int(np.clip(index, 0, len(self.mistakes) - 1))
        mistake = self.mistakes[self.index]
        size = input_size(self.model)
        image = load_image(mistake.file, size)
        self.image.value = _png(image)
        if self.show_gradcam:
            predicted = self.report.class_names.index(mistake.predicted_class)
            self.heatmap.value = _png(overlay(image, gradcam(self.model, image, predicted)))
        self.position.value = f"mistake {self.index + 1} of {len(self.mistakes)}"
        ranked = sorted(
            zip(self.report.class_names, mistake.probabilities), key=lambda pair: -pair[1]
        )
        self.caption.value = (
            f"<b>{html.escape(mistake.file.name)}</b>: true <b>{html.escape(mistake.true_class)}</b>, "
            f"predicted <b>{html.escape(mistake.predicted_class)}</b> with {mistake.confidence:.1%}"
            + probability_bars(ranked[:3])
        )
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index == len(self.mistakes) - 1

    def static_parts(self) -> list[str]:
        return [f"<p>{html.escape(self.position.value)}</p>", self.caption.value]
