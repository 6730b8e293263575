"""Helpers for the transfer-learning course: data, backbones, models, training, evaluation, plots.

Submodules are imported on use (``from tl_helpers.data import fetch``) so that commands which do
not need TensorFlow, such as ``python -m tl_helpers data info``, start instantly.
"""

import os

__version__ = "0.1.0"

# TensorFlow's C++ info and warning log lines are noise for learners; errors still show. (This
# cannot hide the notices TensorFlow prints while it starts: tl_helpers.startup says why and
# filters those, for the course's kernel and command line.) Set TF_CPP_MIN_LOG_LEVEL=0 to see all.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Keras 3.15 warns on every fit() with a tf.data dataset because fit's default is shuffle=True,
# even though the dataset shuffles itself (the course's training pipelines do). Only that message is hidden.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed, but will be ignored", category=UserWarning)

# TensorFlow logs "N out of the last M calls ... triggered tf.function retracing" when several
# models are evaluated one after another, as the notebooks do on purpose. Only that message is hidden.
import logging  # noqa: E402


class _NoRetracingNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetracingNotice())
