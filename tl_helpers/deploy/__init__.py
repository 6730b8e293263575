"""Deployment: export a classifier (SavedModel, LiteRT, ONNX), run exported models, and predict
a photo the way an app does. ``export`` needs TensorFlow; ``metadata``, ``runtimes`` (for LiteRT
and ONNX files) and ``app`` do not, so nothing is imported here: import the module you need."""

__all__ = []  # the submodules are imported by name, each with its own __all__
