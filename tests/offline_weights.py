"""Keras applications' ImageNet weight files, generated here instead of downloaded.

Without internet ``keras.applications`` cannot fetch its weights, so the course's online branch
(notebook 08's VGG16, ResNet50, MobileNetV2 and EfficientNetB0) would never run in a test.
``install`` replaces Keras's download function with one that writes the file Keras asked for:
the same architecture with freshly initialised weights, saved in the HDF5 layout the real files
have, so everything after the download (loading, feature extraction, timing) runs for real. The
weights are random, so accuracy means nothing; cost per photo is what the real weights give.

Used by tests/test_offline_weights.py, and by the notebook runs that start an IPython kernel with
``startup_script`` in its profile (``make standalone-notebooks``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def _architectures() -> dict[str, Callable[[], object]]:
    """File name Keras asks for -> the application those weights fit (without its top)."""
    import keras

    apps = keras.applications
    return {
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5": lambda: apps.VGG16(
            include_top=False, weights=None
        ),
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": lambda: apps.ResNet50(
            include_top=False, weights=None
        ),
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5": lambda: (
            apps.MobileNetV2(include_top=False, weights=None, input_shape=(224, 224, 3))
        ),
        "efficientnetb0_notop.h5": lambda: apps.EfficientNetB0(include_top=False, weights=None),
    }


def generated_weights(fname: str, folder: Path) -> Path:
    """``folder/fname``, written (once) from the architecture Keras's file of that name fits."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    architectures = _architectures()
    if fname not in architectures:
        raise FileNotFoundError(
            f"no generated stand-in for {fname}; known: {sorted(architectures)}"
        )
    path = folder / fname
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        model = architectures[fname]()
        partial = path.with_suffix(".part")
        with h5py.File(partial, "w") as file:
            legacy_h5_format.save_weights_to_hdf5_group(file, model)
        os.replace(partial, path)
    return path


def install(folder: str | os.PathLike[str]) -> list[str]:
    """Make Keras's downloads of application weights write generated files into ``folder``;
    returns the file names it can stand in for."""
    from keras.src.utils import file_utils

    folder = Path(folder)
    downloaded: list[str] = []

    def get_file(fname=None, origin=None, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - Keras's signature
        name = fname or str(origin).rsplit("/", 1)[-1]
        downloaded.append(name)
        return str(generated_weights(name, folder))

    file_utils.get_file = get_file
    get_file.downloaded = downloaded  # type: ignore[attr-defined]
    return sorted(_architectures())


def startup_script(folder: str | os.PathLike[str]) -> str:
    """An IPython start-up file's text that installs the stand-in in a notebook's kernel."""
    here = Path(__file__).resolve().parent
    return (
        "import sys\n"
        f"sys.path.insert(0, {str(here)!r})\n"
        "import offline_weights\n"
        f"offline_weights.install({str(folder)!r})\n"
        f"sys.path.remove({str(here)!r})\n"
    )
