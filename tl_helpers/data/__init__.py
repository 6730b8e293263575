"""Data: the dataset catalog, fetching (mirror, local archive or download), splits, checks.

Without TensorFlow: reading pixels (``data.decode``) and ``tf.data`` pipelines
(``data.pipelines``) are imported from their own modules."""

from tl_helpers.data.archives import safe_extract
from tl_helpers.data.catalog import DatasetSpec, dataset_names, get_spec, load_catalog
from tl_helpers.data.download import download
from tl_helpers.data.fetching import fetch, locate, verify_archive
from tl_helpers.data.images import IMAGE_EXTENSIONS, image_problem, list_images
from tl_helpers.data.splits import (
    DatasetSplits,
    Split,
    dataset_splits,
    split_class_folders,
    split_presplit,
)
from tl_helpers.data.verify import DatasetReport, check_dataset, write_manifest

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetReport",
    "DatasetSpec",
    "DatasetSplits",
    "Split",
    "check_dataset",
    "dataset_names",
    "dataset_splits",
    "download",
    "fetch",
    "get_spec",
    "image_problem",
    "list_images",
    "load_catalog",
    "locate",
    "safe_extract",
    "split_class_folders",
    "split_presplit",
    "verify_archive",
    "write_manifest",
]
