"""Self-checks of decision exercises: the learner chooses something from measurements and the
check applies the rule the exercise states to the same measurements. On a wrong answer the hint
says what to compare, never which answer is right."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from tl_helpers.data.splits import Split
from tl_helpers.evaluation import accuracy_interval, evaluate, mcnemar_exact
from tl_helpers.exercises.checks import verdict
from tl_helpers.models import probabilities
from tl_helpers.training.features import FeatureSet

__all__ = ["check_dropout_choice", "check_gain_is_noise", "check_test_photos_needed"]


def _dropout_rate(head: keras.Model) -> float | None:
    """The head's one dropout rate (0 when it has no Dropout layer); None if it has several."""
    rates = [layer.rate for layer in head.layers if isinstance(layer, keras.layers.Dropout)]
    if len(rates) > 1:
        return None
    return float(rates[0]) if rates else 0.0


def check_dropout_choice(
    heads: Mapping[float, keras.Model], validation: FeatureSet, choice: float
) -> bool:
    """Exercise: one head per dropout rate, trained on the stored features; the rule keeps the
    rate whose head is most accurate on validation, and the smallest rate on a tie."""
    if len(heads) < 2:
        return verdict(
            False, "", "train at least two heads, one per dropout rate, in a dict {rate: head}"
        )
    for rate, head in heads.items():
        found = _dropout_rate(head)
        if found is None or abs(found - rate) > 1e-9:
            return verdict(
                False,
                "",
                f"the head under key {rate} does not drop out at that rate (its Dropout layer says otherwise)",
            )
    right = {
        rate: probabilities(head, validation.features).argmax(axis=1) == validation.labels
        for rate, head in heads.items()
    }
    counts = {rate: int(np.sum(hits)) for rate, hits in right.items()}
    picked = min(rate for rate, count in counts.items() if count == max(counts.values()))
    worst = min(counts, key=lambda rate: counts[rate])
    paired = mcnemar_exact(right[worst], right[picked])  # the largest gap among the rates
    noise = (
        f"within noise (exact McNemar p = {paired.p_value:.2f}): any of them would do, and the rule keeps the simplest"
        if paired.p_value >= 0.05
        else f"beyond noise (exact McNemar p = {paired.p_value:.3f}): the rate matters here"
    )
    return verdict(
        choice == picked,
        f"{picked} by the rule; the best and worst heads differ by {counts[picked] - counts[worst]} of "
        f"{len(validation)} validation photos, {noise}.",
        "that is not the rate the rule picks: count each head's correct validation photos "
        "(a tie goes to the smallest rate).",
    )


def check_gain_is_noise(
    first: keras.Model, second: keras.Model, validation: Split, answer: bool
) -> bool:
    """Exercise: is the difference between two models on the validation photos within noise
    (exact McNemar p >= 0.05 on the photos only one of them got right)?"""
    first_report, second_report = evaluate(first, validation), evaluate(second, validation)
    comparison = mcnemar_exact(first_report.correct, second_report.correct)
    within_noise = comparison.p_value >= 0.05
    return verdict(
        answer == within_noise,
        f"{comparison}. "
        + (
            "Keep the simpler model unless a gain shows beyond noise."
            if within_noise
            else "A real difference: keep the better model on validation."
        ),
        "compute the paired comparison: evaluate both models on the validation split and call "
        "first_report.compare(second_report); p >= 0.05 means within noise.",
    )


def _half_width(accuracy: float, total: int) -> float:
    low, high = accuracy_interval(round(accuracy * total), total)
    return (high - low) / 2


def check_test_photos_needed(accuracy: float, half_width: float, answer: int) -> bool:
    """Exercise: how many test photos make the 95 % interval at ``accuracy`` at most
    +-``half_width``? Answers within 10 % of the smallest such number count as right."""
    if not 0.0 < half_width < 0.5:
        return verdict(False, "", f"half_width is a share between 0 and 0.5, got {half_width}")
    needed = next(n for n in range(1, 1_000_000) if _half_width(accuracy, n) <= half_width)
    if not isinstance(answer, (int, np.integer)) or answer < 1:
        return verdict(False, "", "answer with a whole number of photos")
    ok = abs(answer - needed) <= 0.1 * needed
    too_few = _half_width(accuracy, int(answer)) > half_width
    return verdict(
        ok,
        f"about {needed} photos give +-{100 * _half_width(accuracy, needed):.1f} points at {accuracy:.1%}.",
        f"with {answer} photos the interval is +-{100 * _half_width(accuracy, int(answer)):.1f} points: "
        + (
            "too wide, you need more photos."
            if too_few
            else "narrower than needed; find the smallest number."
        ),
    )
