"""The online branch without internet: Keras applications built from generated weight files."""

from __future__ import annotations

import h5py
import numpy as np
import offline_weights
import pytest

from tl_helpers.backbones import build_backbone
from tl_helpers.errors import CourseError


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", file_utils.get_file)  # restored after the test
    offline_weights.install(tmp_path)
    return tmp_path


def test_a_keras_application_loads_the_file_it_asked_for(stand_in):
    base = build_backbone("mobilenet_v2")
    (path,) = stand_in.glob("*.h5")
    assert path.name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    with h5py.File(path) as file:  # the first convolution's kernel, as written
        kernel = np.array(file["Conv1"]["Conv1"]["kernel"])
    assert np.array_equal(base.get_layer("Conv1").kernel, kernel)
    features = base(np.zeros((1, 224, 224, 3), np.float32))
    assert features.shape == (1, 7, 7, 1280)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "channels"), [("vgg16", 512), ("resnet50", 2048), ("efficientnet_b0", 1280)]
)
def test_every_online_backbone_of_notebook_08_builds_and_runs(stand_in, name, channels):
    base = build_backbone(name)
    assert base(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, 7, 7, channels)


def test_an_unknown_weights_file_is_not_faked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no generated stand-in"):
        offline_weights.generated_weights("inception_v3_notop.h5", tmp_path)


def test_without_the_stand_in_the_download_fails_with_the_course_message(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no weights kept from an earlier run
    with pytest.raises(CourseError, match="Could not load ImageNet weights for backbone 'vgg16'"):
        build_backbone("vgg16")
