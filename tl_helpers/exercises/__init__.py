"""Self-check helpers for the notebooks' exercises.

Each ``check_*`` function takes the learner's answer, works out the right one from the real data
or by testing the learner's function, prints a short verdict with a hint, and returns ``True``
or ``False``. Nothing is hard-coded: the answer is recomputed every time. ``checks``: look-ups and
small functions; ``decisions``: choices made from measurements, checked against the stated rule.
"""

from tl_helpers.exercises.checks import (
    check_candidate_rows,
    check_flatten_head_parameters,
    check_most_confident_mistake,
    check_most_confused_pair,
    check_overlap_function,
    check_pareto_labels,
    check_pitfalls_found,
    check_predicted_class,
    check_recall_from_confusion,
    check_resize_changes,
    check_shipping_choice,
    check_slowdown,
    check_smallest_image,
    check_test_counts,
    check_top_k_function,
    check_trainable_batchnorm,
    check_trainable_layer_count,
)
from tl_helpers.exercises.decisions import (
    check_dropout_choice,
    check_gain_is_noise,
    check_test_photos_needed,
)

__all__ = [
    "check_candidate_rows",
    "check_dropout_choice",
    "check_flatten_head_parameters",
    "check_gain_is_noise",
    "check_most_confident_mistake",
    "check_most_confused_pair",
    "check_overlap_function",
    "check_pareto_labels",
    "check_pitfalls_found",
    "check_predicted_class",
    "check_recall_from_confusion",
    "check_resize_changes",
    "check_shipping_choice",
    "check_slowdown",
    "check_smallest_image",
    "check_test_counts",
    "check_test_photos_needed",
    "check_top_k_function",
    "check_trainable_batchnorm",
    "check_trainable_layer_count",
]
