"""Staging the classic transfer-learning mistakes, so that notebook 05 can measure them.

Each helper builds the *wrong* version of one step next to the right one, on the same data,
seed and budget, and returns numbers rather than opinions. They are small on purpose: the
notebook shows the mistake in its own cells; these functions only do the bookkeeping that
would otherwise bury the point (cloning a model so that experiments do not leak into each
other, iterating a ``tf.data`` pipeline epoch by epoch, resampling a test split).
"""

from tl_helpers.pitfalls.data import (
    SCALING_MISTAKES,
    PitfallSummary,
    drop_most_of_class,
    first_per_class,
    identical_across_passes,
    image_arrays,
    indices_seen,
    mistaken_input,
    shuffled_take_skip,
)
from tl_helpers.pitfalls.fine_tuning import (
    FineTuningRun,
    linear_probe,
    relative_change,
    stage_fine_tuning,
    training_false_sticks,
)
from tl_helpers.pitfalls.heads import (
    Candidates,
    HeadVariant,
    SelectionBias,
    fit_head_variant,
    head_candidates,
    output_accuracy,
    selection_bias,
)
from tl_helpers.pitfalls.lint import lint_pitfalls

__all__ = [
    "SCALING_MISTAKES",
    "Candidates",
    "FineTuningRun",
    "HeadVariant",
    "PitfallSummary",
    "SelectionBias",
    "drop_most_of_class",
    "first_per_class",
    "fit_head_variant",
    "head_candidates",
    "identical_across_passes",
    "image_arrays",
    "indices_seen",
    "linear_probe",
    "lint_pitfalls",
    "mistaken_input",
    "output_accuracy",
    "relative_change",
    "selection_bias",
    "shuffled_take_skip",
    "stage_fine_tuning",
    "training_false_sticks",
]
