"""Self-checks of look-up and coding exercises (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tl_helpers.data.splits import DatasetSplits, Split

__all__ = [
    "check_candidate_rows",
    "check_flatten_head_parameters",
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
    "check_top_k_function",
    "check_trainable_batchnorm",
    "check_trainable_layer_count",
]


def verdict(ok: bool, success: str, hint: str) -> bool:
    """Print the verdict on an answer (what was right, or a hint) and return ``ok``."""
    print(("correct: " + success) if ok else ("not yet: " + hint))
    return ok


def check_test_counts(splits: DatasetSplits, answer: Mapping[str, int]) -> bool:
    """Exercise: how many test images does each class have?"""
    expected = splits.counts()["test"]
    return verdict(
        dict(answer) == expected,
        f"{sum(expected.values())} test images, per class as you said.",
        "count the labels of splits.test; splits.counts() can check your work, but try without it first.",
    )


def check_overlap_function(shares_a_file: Callable[[Split, Split], bool]) -> bool:
    """Exercise: write ``shares_a_file(a, b)`` that is True when two splits have a file in common."""
    a = Split((Path("x/1.jpg"), Path("x/2.jpg")), (0, 1))
    b = Split((Path("x/3.jpg"),), (0,))
    c = Split((Path("x/2.jpg"), Path("x/4.jpg")), (1, 0))
    cases = [(a, b, False), (a, c, True), (b, b, True), (Split((), ()), a, False)]
    wrong = [(len(x), len(y), want) for x, y, want in cases if bool(shares_a_file(x, y)) != want]
    return verdict(
        not wrong,
        "your function spots shared files and only those.",
        f"{len(wrong)} of {len(cases)} test cases gave the wrong answer; compare sets of files, e.g. set(a.files) & set(b.files).",
    )


def check_smallest_image(split: Split, answer: str | Path) -> bool:
    """Exercise: which file of ``split`` has the fewest pixels?"""
    from PIL import Image

    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    smallest = min(split.files, key=pixels)
    ok = Path(answer).name == smallest.name
    return verdict(
        ok,
        f"{smallest.name} is the smallest ({pixels(smallest):,} pixels).",
        "open each file with PIL.Image.open and compare width * height; only the header is read, so it is quick.",
    )


def check_flatten_head_parameters(answer: int, feature_shape: tuple[int, int, int]) -> bool:
    """Exercise: how many trainable parameters has Flatten -> Dense(256) -> Dropout -> Dense(1) on this feature map?"""
    height, width, channels = feature_shape
    expected = (height * width * channels * 256 + 256) + (256 + 1)
    return verdict(
        int(answer) == expected,
        f"{expected:,} parameters, nearly all in the first Dense layer.",
        "Flatten gives height*width*channels inputs; a Dense layer has inputs*units weights plus units biases.",
    )


def check_most_confident_mistake(report, answer: str | Path) -> bool:
    """Exercise: which test image did the model get wrong with the highest confidence?"""
    if not report.mistakes:
        return verdict(
            answer is None,
            "there are no mistakes at all.",
            "the model made no mistakes: the answer is None.",
        )
    worst = report.mistakes[0]
    ok = answer is not None and Path(answer).name == worst.file.name
    return verdict(
        ok,
        f"{worst.file.name}: a {worst.true_class} called {worst.predicted_class} with {worst.confidence:.1%}.",
        "sort report.mistakes by confidence (it already is) or look at the first one.",
    )


def check_trainable_layer_count(model, answer: int) -> bool:
    """Exercise: how many layers of the base have trainable weights after unfreezing?"""
    from tl_helpers.models import find_backbone

    expected = sum(1 for layer in find_backbone(model).layers if layer.trainable and layer.weights)
    return verdict(
        int(answer) == expected,
        f"{expected} layers with weights are trainable in the base.",
        "count the layers of find_backbone(model).layers that are trainable and have weights.",
    )


def check_trainable_batchnorm(count_function) -> bool:
    """Exercise: write ``count_function(model)`` returning how many BatchNorm layers of a model are trainable."""
    import keras

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.BatchNormalization(name="bn_a")(inputs)
    x = keras.layers.Conv2D(2, 1, name="conv")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    model = keras.Model(inputs, x)
    cases = []
    for trainable_a, trainable_b in [(False, False), (True, False), (True, True)]:
        model.get_layer("bn_a").trainable, model.get_layer("bn_b").trainable = (
            trainable_a,
            trainable_b,
        )
        cases.append(int(count_function(model)) == trainable_a + trainable_b)
    return verdict(
        all(cases),
        "your function counts trainable BatchNorm layers correctly.",
        f"{cases.count(False)} of 3 test models gave the wrong count; use isinstance(layer, keras.layers.BatchNormalization).",
    )


def check_predicted_class(loaded, image_path: str | Path, answer: str) -> bool:
    """Exercise: load the saved model and say which class it predicts for one image."""
    from tl_helpers.data.decode import load_image
    from tl_helpers.models import probabilities

    row = probabilities(loaded.model, load_image(image_path, loaded.image_size)[None])[0]
    expected = loaded.class_names[int(row.argmax())]
    return verdict(
        answer == expected,
        f"the model says {expected} ({row.max():.1%}).",
        "use tl.probabilities(loaded.model, image[None]) on the image loaded with "
        "tl.load_image(path, loaded.image_size).",
    )


def check_recall_from_confusion(report, answer: Mapping[str, float]) -> bool:
    """Exercise: compute each class's recall from the confusion matrix alone."""
    expected = report.recall
    wrong = [
        name
        for name in expected
        if name not in answer or abs(float(answer[name]) - expected[name]) > 1e-6
    ]
    return verdict(
        not wrong,
        "recall = the diagonal cell divided by the sum of its row (all images of that class).",
        f"{len(wrong)} classes differ ({', '.join(wrong)}); rows of report.confusion are true classes, columns predictions.",
    )


def check_top_k_function(top_k_accuracy: Callable, report) -> bool:
    """Exercise: write ``top_k_accuracy(probabilities, labels, k)`` from scratch."""
    import numpy as np

    rng = np.random.default_rng(0)
    toy = rng.dirichlet(np.ones(4), size=20)
    toy_labels = rng.integers(0, 4, size=20)
    cases = [(toy, toy_labels, k) for k in (1, 2, 4)] + [
        (report.probabilities, report.labels, k) for k in (1, 2, 3)
    ]
    wrong = 0
    for probabilities, labels, k in cases:
        top = np.argsort(-probabilities, axis=1)[:, :k]
        expected = float(np.mean(np.any(top == np.asarray(labels)[:, None], axis=1)))
        wrong += abs(float(top_k_accuracy(probabilities, labels, k)) - expected) > 1e-9
    return verdict(
        not wrong,
        "your function matches the report for k = 1, 2, 3 (and k = 1 is plain accuracy).",
        f"{wrong} of {len(cases)} cases differ; take the k largest probabilities per row (np.argsort(-p)[:, :k]) and check the label is among them.",
    )


def check_most_confused_pair(report, answer: tuple[str, str]) -> bool:
    """Exercise: which (true class, predicted class) pair is the most frequent mistake?"""
    import numpy as np

    matrix = report.confusion.copy()
    np.fill_diagonal(matrix, 0)
    if matrix.sum() == 0:
        return verdict(
            answer is None,
            "there are no mistakes at all.",
            "the model made no mistakes: the answer is None.",
        )
    top = matrix.max()
    best = {
        (report.class_names[i], report.class_names[j]) for i, j in zip(*np.nonzero(matrix == top))
    }
    ok = answer is not None and tuple(answer) in best
    return verdict(
        ok,
        f"{' / '.join(f'{t} taken for {p}' for t, p in sorted(best))}: {top} images.",
        "zero the diagonal of report.confusion and find the largest remaining cell (row = true, column = predicted).",
    )


def check_pitfalls_found(source: str, answer: set[int]) -> bool:
    """Exercise: which of notebook 05's pitfalls does a piece of code contain?"""
    from tl_helpers.pitfalls import lint_pitfalls

    expected = lint_pitfalls(source)
    missed, extra = set(expected) - set(answer), set(answer) - set(expected)
    reasons = "; ".join(f"{number}: {why}" for number, why in expected.items())
    return verdict(
        not missed and not extra,
        f"{sorted(expected)}. {reasons}.",
        f"{len(missed)} missed, {len(extra)} not in this code. Look at the scaling layer, what is frozen, "
        "the head, and the loss against the label mode.",
    )


def check_candidate_rows(
    candidates, answer, learning_rate: float = 1e-3, dropout: float = 0.0
) -> bool:
    """Exercise: which rows of a candidate search (``pitfalls.head_candidates``) used one setting?"""
    prefix = f"lr {learning_rate:g}, dropout {dropout:g},"
    expected = [i for i, name in enumerate(candidates.names) if name.startswith(prefix)]
    return verdict(
        list(answer or []) == expected,
        f"rows {expected}: {len(expected)} candidates, one per epoch count.",
        f"pick the rows of candidates.names that start with '{prefix}'.",
    )


def check_pareto_labels(candidates, answer) -> bool:
    """Exercise: which candidates (by ``label``) does no other one beat on accuracy and speed?"""
    from tl_helpers.training.choosing import pareto_front

    expected = {c.label for c in pareto_front(candidates)}
    given = set(answer or ())
    return verdict(
        given == expected,
        f"{len(expected)} candidates on the front: {', '.join(sorted(expected))}.",
        f"{len(given - expected)} of yours are beaten by another candidate, {len(expected - given)} are "
        "missing; drop a candidate only if another is at least as accurate and at least as fast.",
    )


def check_slowdown(candidates, answer: float) -> bool:
    """Exercise: how many times longer per image does the most accurate candidate take than the
    fastest one?"""
    best = max(candidates, key=lambda c: (c.validation_correct, -c.ms_per_image))
    fastest = min(candidates, key=lambda c: c.ms_per_image)
    expected = best.ms_per_image / fastest.ms_per_image
    return verdict(
        answer is not None and abs(float(answer) - expected) <= 0.05 * expected,
        f"{best.label} takes {expected:.1f} times as long per image as {fastest.label}.",
        "divide the ms_per_image of the most accurate candidate by the smallest ms_per_image.",
    )


def check_shipping_choice(
    measurements, answer: str, max_mb: float, max_ms_one_thread: float
) -> bool:
    """Exercise: the fastest export (one thread) whose file is at most ``max_mb`` and whose
    one-thread latency is at most ``max_ms_one_thread``."""
    by_name = {m.name: m for m in measurements}
    fits = [
        m
        for m in measurements
        if m.latency_ms_one_thread is not None
        and m.size_bytes / 1e6 <= max_mb
        and m.latency_ms_one_thread <= max_ms_one_thread
    ]
    best = min(fits, key=lambda m: m.latency_ms_one_thread or 0.0) if fits else None
    chosen = by_name.get(answer)
    if chosen is None:
        hint = f"give one of the table's model names: {', '.join(by_name)}."
    elif chosen.latency_ms_one_thread is None:
        hint = f"{answer}'s threads cannot be set, so its one-thread latency is unknown."
    elif chosen.size_bytes / 1e6 > max_mb:
        hint = f"{answer} is {chosen.size_bytes / 1e6:.1f} MB, over the {max_mb} MB limit."
    elif chosen.latency_ms_one_thread > max_ms_one_thread:
        hint = (
            f"{answer} takes {chosen.latency_ms_one_thread:.1f} ms on one thread, over the limit."
        )
    else:
        hint = f"{answer} fits both limits, but another export that fits is faster on one thread."
    return verdict(
        best is not None and chosen is best,
        f"{answer} is the fastest export within {max_mb} MB and {max_ms_one_thread} ms.",
        hint,
    )


def check_resize_changes(exported, files: list[Path], answer: int) -> bool:
    """Exercise: on how many of ``files`` does ``exported`` (an exported model) predict another
    class when photos are resized with Pillow's own ``resize`` (bilinear, which smooths when
    shrinking) instead of the course's pipeline?"""
    import numpy as np
    from PIL import Image, ImageOps

    from tl_helpers.deploy.app import load_photo

    height, width = exported.image_size
    course, pillow = [], []
    for path in files:
        course.append(load_photo(path, (height, width)))
        with Image.open(path) as photo:
            upright = ImageOps.exif_transpose(photo).convert("RGB")
            pillow.append(
                np.asarray(upright.resize((width, height), Image.Resampling.BILINEAR), np.float32)
            )
    changed = int(
        np.sum(
            exported.probabilities(np.stack(course)).argmax(1)
            != exported.probabilities(np.stack(pillow)).argmax(1)
        )
    )
    return verdict(
        answer is not None and int(answer) == changed,
        f"{changed} of {len(files)} photos change class with Pillow's resize.",
        "predict each photo twice, through load_photo and through Pillow's resize((width, height), "
        "Image.Resampling.BILINEAR) after exif_transpose and convert('RGB'), and count the photos whose top "
        "class differs.",
    )
