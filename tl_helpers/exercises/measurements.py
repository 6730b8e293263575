"""Self-checks of the open exercises that ask the learner to measure something new.

Their runs take minutes (an export, a longer training), so the notebooks do not run them; the
checks recompute the answer from what the learner measured, and say whether the conclusion
drawn from it follows.
"""

from __future__ import annotations

from pathlib import Path

from tl_helpers.exercises.checks import verdict

__all__ = ["check_calibration_agreement", "check_closing_rate"]


def check_calibration_agreement(
    exported_path: str | Path, model, split, answer: float, still_clears: bool, target: float
) -> bool:
    """Exercise: the agreement of an exported model (``exported_path``, e.g. int8 calibrated on
    fewer photos) with the Keras ``model`` on ``split`` (validation photos), as a fraction, and
    whether it still clears ``target``."""
    import numpy as np

    from tl_helpers.data.decode import load_image
    from tl_helpers.deploy.runtimes import load_exported
    from tl_helpers.models.predict import probabilities

    exported = load_exported(exported_path)
    images = np.stack([load_image(path, exported.image_size) for path in split.files])
    expected = float(
        np.mean(exported.probabilities(images).argmax(1) == probabilities(model, images).argmax(1))
    )
    right_number = answer is not None and abs(float(answer) - expected) <= 0.5 / len(split)
    right_verdict = bool(still_clears) == (expected >= target)
    hint = (
        f"compare the exported model's top class with Keras's on each of the {len(split)} "
        "photos and take the share that match."
        if not right_number
        else f"{expected:.1%} is {'at or above' if expected >= target else 'below'} {target:.0%}."
    )
    return verdict(
        right_number and right_verdict,
        f"{expected:.1%} of the photos keep Keras's class, "
        f"{'enough' if expected >= target else 'not enough'} for the {target:.0%} target.",
        hint,
    )


def check_closing_rate(longer, shorter, answer: float) -> bool:
    """Exercise: how many accuracy points per extra minute did the from-scratch network gain
    when its budget grew (``longer`` and ``shorter``: ``AccuracyOverTime`` of the two runs)?"""
    extra_minutes = (longer.budget_s - shorter.budget_s) / 60
    if extra_minutes <= 0:
        return verdict(False, "", "the longer run needs a larger budget_s than the first one.")
    expected = 100 * (longer.within_budget() - shorter.within_budget()) / extra_minutes
    return verdict(
        answer is not None and abs(float(answer) - expected) <= max(0.05, 0.02 * abs(expected)),
        f"{expected:+.1f} points per extra minute (within-budget accuracies "
        f"{shorter.within_budget():.1%} and {longer.within_budget():.1%}).",
        "subtract the two within_budget() accuracies, in points, and divide by the extra "
        "minutes of budget.",
    )
